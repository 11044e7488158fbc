"""The ZeroTIR prompt template (ORZ style) as the pretraining corpus and the base-model card use it.

Kept in one constant so it can be aligned with the canonical template in common/toolProtocol.ts
(issue 4): the model is pretrained on think documents that start with exactly this preamble.
"""

from __future__ import annotations

ZEROTIR_PREAMBLE = (
    "A conversation between User and Assistant. The User asks a question, and the Assistant solves it. "
    "The Assistant first thinks about the reasoning process in the mind and then provides the User with "
    "the answer. The reasoning process is enclosed within <think> </think> and the answer is enclosed "
    "within <answer> </answer> tags, i.e., <think> reasoning process here </think> <answer> answer here "
    "</answer>. The final answer is put in \\boxed{} inside the answer tags. The Assistant may write "
    "python code in a ```python block while thinking; the code is run and its output is shown.\n"
)

# Where the policy's generation starts; everything before it is the prompt.
ASSISTANT_START = "Assistant: <think>"

# The tool protocol's fences (issue 4): the model opens CODE_OPEN, the runner appends the output block.
CODE_OPEN = "```python"
CODE_CLOSE = "```"
EOS_TOKEN = "<|endoftext|>"


def render_prompt(problem: str, preamble: bool = True) -> str:
    """`{preamble}User: {problem}\\nAssistant: <think>`: the text a rollout continues from."""
    return f"{ZEROTIR_PREAMBLE if preamble else ''}User: {problem}\n{ASSISTANT_START}"


def render_output_block(result: str) -> str:
    """What the runner appends after a closed code block."""
    return f"\n```output\n{result}\n```\n"
