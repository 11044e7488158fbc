"""The ZeroTIR prompt template (ORZ style) as the pretraining corpus and the base-model card use it.

The canonical template lives in common/toolProtocol.ts (issue 4); this is its Python twin for
the corpus and the evaluator, so the model is pretrained on exactly the prompt RL will use.
"""

from __future__ import annotations

# Copied from common/toolProtocol.ts (renderPrompt 'tool'); test/data/template.test.ts checks they agree.
_PREAMBLE = (
    "A conversation between User and Assistant. The User asks a question, and the Assistant solves it. "
    "The Assistant first thinks about the reasoning process in the mind and then provides the User with the answer. "
    "The reasoning process is enclosed within <think> </think> and answer is enclosed within <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>."
)
_TOOL_SENTENCE = (
    " While thinking, the Assistant may write Python code in a ```python code block; the code is run and its output "
    "is shown in a ```output block."
)
_INSTRUCTION = (
    "User: You must put your answer inside <answer> </answer> tags, i.e., <answer> answer here </answer>. "
    "And your final answer will be extracted automatically by the \\boxed{} tag.\nThis is the problem:\n"
)
ZEROTIR_PREAMBLE = f"{_PREAMBLE}{_TOOL_SENTENCE} {_INSTRUCTION}"

# Where the policy's generation starts; everything before it is the prompt.
ASSISTANT_START = "Assistant: <think>"

# The tool protocol's fences (issue 4): the model opens CODE_OPEN, the runner appends the output block.
CODE_OPEN = "```python"
CODE_CLOSE = "```"
EOS_TOKEN = "<|endoftext|>"


def render_prompt(problem: str, preamble: bool = True) -> str:
    """The ZeroTIR prompt a rollout continues from. Without the preamble (the shorter form some
    pretraining documents use) it is just `User: {problem}` and `Assistant: <think>` on two lines."""
    if preamble:
        return f"{ZEROTIR_PREAMBLE}{problem}\n{ASSISTANT_START}"
    return f"User: {problem}\n{ASSISTANT_START}"


def render_output_block(result: str) -> str:
    """What the runner appends after a closed code block."""
    return f"\n```output\n{result}\n```\n"
