"""Issue 14, item 7: a damaged store file is reported, and kb's data files are private.

(`kb serve`'s token, Host and Origin checks are in tests/test_serve.py.)
"""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import run_kb


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_damaged_store_file_is_reported_not_shown_as_empty(sample_store, tmp_path, damage):
    store = tmp_path / "store"
    shutil.copytree(sample_store[0].store, store, ignore=shutil.ignore_patterns("serve.json", "gaps.jsonl"))
    db = store / "chroma.sqlite3"
    data = db.read_bytes()
    db.write_bytes({"empty": b"", "truncated": data[: len(data) // 3], "garbage": b"x" * 4096}[damage])
    for wal in store.glob("chroma.sqlite3-*"):
        wal.unlink()
    res = run_kb("status", env={"KB_STORE": str(store)})
    assert res.returncode == 1, res.stdout
    assert "damaged" in res.stderr and "chroma.sqlite3" in res.stderr and "kb ingest" in res.stderr, res.stderr
    assert "empty" not in res.stdout


def test_feedback_and_gaps_files_are_private(tmp_path):
    import stat

    from bot.feedback import FeedbackStore
    from kb.gaps import log_refusal
    from kb.settings import load_settings

    s = load_settings(store=tmp_path / "s")
    log_refusal(s, "q", [], via="cli")
    FeedbackStore(tmp_path / "s" / "feedback.sqlite").record_vote("no-such-answer", "U1", True)
    for name in ("gaps.jsonl", "feedback.sqlite"):
        assert stat.S_IMODE((tmp_path / "s" / name).stat().st_mode) == 0o600, name
