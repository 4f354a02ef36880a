"""kb's own data files are private to the user who runs kb.

`serve.json` holds the daemon's token, `feedback.sqlite` and the bot's journal hold who
asked what (DM questions included), the gaps log holds refused questions: each is
created with mode 0600 (and tightened to 0600 if an older kb left it readable), so
other local users cannot read them. SQLite's side files (-journal, -wal) take the
database file's mode.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600


def private_file(path: str | Path) -> Path:
    """Make sure `path` exists with mode 0600 (its folder is created if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)
    return path


def write_private(path: str | Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
