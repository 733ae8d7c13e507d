"""`distill plan configs/demo.yaml --pilot 4`: the demo pipeline's cost/time table, from 4 real generations of the
bundled tiny model on the offline engine, with no stage output written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.support` (no tests/__init__.py)

from tests.support import distill_env, repo_root  # noqa: E402


@pytest.mark.vllm
@pytest.mark.slow
def test_plan_demo_with_a_pilot_writes_nothing(tmp_path, tiny_model):
    run_dir = tmp_path / "runs" / "demo"
    proc = subprocess.run([sys.executable, "-m", "distill_cli", "plan", "configs/demo.yaml", "--pilot", "4",
                           "--run-dir", str(run_dir)], cwd=repo_root(), capture_output=True, text=True,
                          timeout=900, env=distill_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = " ".join(proc.stdout.split())
    # 36 demo prompts x 2 samples; prompt tokens by the model's tokenizer; completion length from the pilot
    row = re.search(r"generate\s*│\s*smollm2-135m-instruct \(vllm\)\s*│\s*36 x 2\s*│\s*72\s*│\s*([\d,]+)\s*│\s*"
                    r"([\d,]+)\s*│\s*\$0 \(local\)\s*│\s*(\S+)", proc.stdout)
    assert row, proc.stdout
    prompt_tok, completion_tok = (int(row.group(i).replace(",", "")) for i in (1, 2))
    assert 72 * 20 < prompt_tok < 72 * 400 and 72 <= completion_tok <= 72 * 192  # max_tokens 192 in the demo
    assert row.group(3) != "?"  # a wall time measured from the pilot
    assert "counted with smollm2-135m-instruct's tokenizer" in text and "pilot: mean of 4 real generations" in text
    assert "local engine: no API price, $0" in text
    assert not run_dir.exists()  # no stage output, not even the collect step's
