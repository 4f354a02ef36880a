"""Issue 14, item 8: by default kb's runtimes leave one core free (docs/operations.md has the figures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import ROOT

PROBE = """
import json, os
from kb.backends import load_embedder, load_llm
from kb.settings import load_settings
import torch
s = load_settings(embed_backend="onnx", llm_runtime="transformers")
onnx = load_embedder(s).session.get_session_options().intra_op_num_threads
st = load_embedder(load_settings(embed_backend="torch"))
load_llm(s)
print(json.dumps({"torch": torch.get_num_threads(), "onnx": onnx, "cores": len(os.sched_getaffinity(0))}))
"""


def probe(env: dict[str, str]) -> dict:
    full = {k: v for k, v in os.environ.items() if k != "KB_THREADS"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env={**full, **env}, cwd=ROOT,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_default_threads_leave_a_core_free():
    got = probe({})
    want = max(1, got["cores"] - 1)
    assert (got["torch"], got["onnx"]) == (want, want), got
    got = probe({"KB_THREADS": "3"})
    assert (got["torch"], got["onnx"]) == (3, 3), got


def test_default_threads_by_core_count():
    from kb.cpu import default_threads

    assert [default_threads(n) for n in (1, 2, 4, 16)] == [1, 1, 3, 15]
