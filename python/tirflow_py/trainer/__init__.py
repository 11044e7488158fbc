"""The long-lived policy trainer: GRPO, Reinforce++-baseline and PPO-clip with tool-output masking.

Started once per trainer worker (`python -m tirflow_py.trainer`) and spoken to over
line-delimited JSON on stdin/stdout; see README.md in this folder for the protocol.
"""
