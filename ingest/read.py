"""Find the files to ingest and read each one safely, with a per-file outcome.

A bad file (binary, empty, not UTF-8, too large, unreadable) becomes a Skipped
record with a reason; it never stops the rest of the run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SUPPORTED = {".md": "md", ".markdown": "md", ".mdx": "md", ".html": "html", ".htm": "html", ".txt": "txt"}
MAX_BYTES = 5 * 1024 * 1024
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".hg", ".svn"}


@dataclass
class RawDoc:
    """Bytes of one source, decoded, with what we know about where it came from."""

    source: str
    text: str
    kind: str  # md | html | txt
    modified: str
    content_hash: str


@dataclass
class Skipped:
    source: str
    reason: str


def iter_files(paths: Iterable[str]) -> Iterator[Path | Skipped]:
    """Expand folders recursively (sorted; hidden and vendored folders left out).

    Inside a folder only supported file types are taken (a docs folder also holds
    images and configs); a file named on its own is always tried, so an
    unsupported one gets a Skipped outcome.
    """
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            yield Skipped(str(path), "no such file or folder")
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED:
                        yield Path(root) / name
        else:
            yield path


def source_id(path: Path) -> str:
    """Absolute path: the same file ingested from two working folders is one page."""
    return str(path.resolve())


def read_file(path: Path, max_bytes: int = MAX_BYTES) -> RawDoc | Skipped:
    src = source_id(path)
    kind = SUPPORTED.get(path.suffix.lower())
    if kind is None:
        return Skipped(src, f"unsupported file type {path.suffix or '(none)'!r} (supported: .md .mdx .html .htm .txt)")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Skipped(src, f"too large ({size // 1024} KiB > {max_bytes // 1024} KiB)")
        data = path.read_bytes()
    except OSError as exc:
        return Skipped(src, f"unreadable: {exc.strerror or exc}")
    modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat(timespec="seconds")
    return decode(src, data, kind, modified)


def decode(source: str, data: bytes, kind: str, modified: str) -> RawDoc | Skipped:
    """Check the bytes look like text before anything else sees them."""
    if not data.strip():
        return Skipped(source, "empty")
    if b"\x00" in data[:8192]:
        return Skipped(source, "binary content (NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(source, f"not UTF-8 text (byte {exc.start}); convert it with iconv -t UTF-8")
    digest = hashlib.sha256(data).hexdigest()
    return RawDoc(source=source, text=text, kind=kind, modified=modified, content_hash=digest)
