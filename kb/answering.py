"""Which processes answer questions from a data folder, so `kb ingest` leaves them a core.

`kb serve` and `kb slack` each keep `answering/<pid>.json` (their pid and start time) in the data
folder while they run. An ingest that starts beside one embeds with a core fewer: two embedding
threads on a core the answerer needs would make every question wait (docs/operations.md). A file
left by a process killed with -9 names a pid that is gone, or reused by another program (another
start time): it counts for nothing and is removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FOLDER = "answering"


def process_started(pid: int) -> int | None:
    """When the process began (clock ticks since boot, /proc/PID/stat field 22); None off Linux or when gone.

    A pid alone can name another program once the one that wrote it has died (a `kb serve` killed with
    -9 leaves its mark behind); the start time tells the two apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int, started: int | None) -> bool:
    """Whether `pid` is still the process that started at `started` (the pid only when either is unknown)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        pass
    now = process_started(pid)
    return started is None or now is None or started == now


@contextmanager
def answering(data_dir: Path) -> Iterator[None]:
    """Mark this process as answering from `data_dir` for the duration of the block."""
    from kb.private import write_private

    path = Path(data_dir) / FOLDER / f"{os.getpid()}.json"
    write_private(path, json.dumps({"pid": os.getpid(), "started": process_started(os.getpid())}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def others_answering(data_dir: Path) -> int:
    """How many live processes other than this one answer from `data_dir`; stale marks are removed."""
    count = 0
    for path in sorted((Path(data_dir) / FOLDER).glob("*.json")):
        try:
            state = json.loads(path.read_text())
            pid, started = int(state.get("pid") or 0), state.get("started")
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        if pid == os.getpid():
            continue
        if alive(pid, started if isinstance(started, int) else None):
            count += 1
        else:
            path.unlink(missing_ok=True)
    return count
