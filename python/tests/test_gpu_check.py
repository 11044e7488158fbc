"""The GPU check at its tiny CPU shape: both paths (single process, one-rank FSDP2) run a real
update and report tokens/s and MFU; the FLOPs formula and the peak table by hand."""

import json
import subprocess
import sys
from pathlib import Path

from tirflow_py.gpu_check import QWEN25_05B, Shape, peak_tflops, update_flops

PYTHON_DIR = Path(__file__).resolve().parents[1]


def test_tiny_check_runs_both_paths_and_reports_throughput_and_mfu(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tirflow_py.gpu_check", "--tiny", "--steps", "1", "--peak-tflops", "1",
         "--json", str(out)],
        capture_output=True, text=True, cwd=PYTHON_DIR, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert [r["path"] for r in result["results"]] == ["single", "fsdp2"]
    for r in result["results"]:
        assert r["tokens_per_second"] > 0 and 0 < r["mfu"] < 1
    assert "single: " in proc.stdout and "fsdp2: " in proc.stdout and "MFU" in proc.stdout


def test_update_flops_by_hand():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model = Qwen2ForCausalLM(Qwen2Config(**{**QWEN25_05B, "num_hidden_layers": 1, "vocab_size": 1000}))
    shape = Shape(groups=2, samples=3, prompt_len=10, response_len=22, micro_batch=1, device="cpu")
    n = sum(p.numel() for p in model.parameters())  # tied head: every parameter is in a matmul
    s = 32
    expected = 4 * (2 * n * s + 4 * 1 * 896 * s * s) * 6
    assert update_flops(model, shape) == expected


def test_peak_by_gpu_name():
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA H200") == 989.4
    assert peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_tflops("Tesla T4") is None
