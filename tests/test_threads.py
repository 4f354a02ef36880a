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
e = load_embedder(s)
assert e.session.get_session_options().intra_op_num_threads == 1  # each worker runs whole batches
onnx = e.workers
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


def test_ingest_takes_the_idle_cores(monkeypatch):
    """`kb ingest` embeds with every idle core (LlamaIndex's ingest takes them all), keeps one back for a
    running `kb serve`, and follows KB_THREADS when it is set."""
    import kb.cpu as cpu
    from kb.settings import load_settings

    monkeypatch.delenv("KB_THREADS", raising=False)
    monkeypatch.setattr(cpu, "usable_cores", lambda: 2)
    auto = load_settings(threads=0)
    for idle, answering, want in [(1.96, False, 2), (1.96, True, 1), (0.93, False, 1), (0.1, False, 1),
                                  (3.9, False, 2), (None, False, 2), (None, True, 1)]:
        monkeypatch.setattr(cpu, "idle_cores", lambda idle=idle: idle)
        assert cpu.ingest_threads(auto, answering=answering) == want, (idle, answering)
    assert cpu.ingest_threads(load_settings(threads=3), answering=True) == 3


def test_idle_cores_reads_the_machine():
    from kb.cpu import idle_cores

    idle = idle_cores(0.05)
    if not os.path.exists("/proc/stat"):
        assert idle is None
        return
    assert idle is not None and 0.0 <= idle <= (os.cpu_count() or 1) + 1e-6


def test_a_live_process_is_told_from_a_dead_or_reused_pid():
    from kb.answering import alive, process_started

    assert alive(os.getpid(), None)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not alive(int(dead.stdout), None)
    assert not alive(0, None)
    if process_started(os.getpid()) is not None:  # Linux: a live pid that another program now holds
        started = process_started(os.getpid())
        assert alive(os.getpid(), started)
        assert not alive(os.getpid(), started - 1)


def test_answering_processes_are_counted_and_stale_marks_removed(tmp_path):
    """kb serve and kb slack mark themselves (kb/answering.py) so that `kb ingest` leaves them a core."""
    from kb.answering import answering, others_answering

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom kb.answering import answering\n"
                               f"with answering({str(tmp_path)!r}):\n    print('ready', flush=True)\n"
                               "    time.sleep(600)"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert others_answering(tmp_path) == 1
        with answering(tmp_path):  # this process's own mark is not "another" answerer
            assert others_answering(tmp_path) == 1
        holder.kill()  # kill -9: the mark stays behind, names a dead pid, counts for nothing and goes
        holder.wait(timeout=60)
        assert others_answering(tmp_path) == 0
        assert not list((tmp_path / "answering").glob("*.json"))
    finally:
        holder.kill()
    reused = tmp_path / "answering" / "1.json"  # pid 1 is alive but started at another time: not ours
    reused.write_text(json.dumps({"pid": 1, "started": -5}))
    assert others_answering(tmp_path) == 0 and not reused.exists()
    (tmp_path / "answering" / "2.json").write_text("not json")  # unreadable: counts for nothing
    assert others_answering(tmp_path) == 0
