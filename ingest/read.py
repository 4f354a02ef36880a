"""Find the files to ingest and read each one safely, with a per-file outcome.

Every file under a folder gets an outcome: it is read, or it becomes a Skipped
record with a reason (binary, empty, not UTF-8, too large, unreadable, an
unsupported type, excluded by a glob, a named pipe, a socket, a device, a
symlink loop...). Nothing is left out silently, and no file can stop the run or
hang it: only regular files are ever opened, without blocking.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SUPPORTED = {".md": "md", ".markdown": "md", ".mdx": "md", ".html": "html", ".htm": "html", ".txt": "txt",
             ".rst": "rst", ".rest": "rst", ".qmd": "qmd", ".rmd": "qmd", ".ipynb": "ipynb", ".pdf": "pdf",
             ".docx": "docx"}
CONVERTED = {"pdf", "docx"}  # binary formats: a converter turns the bytes into Markdown (ingest/pdf.py, word.py)
# Known document types kb cannot read yet: skipped with a reason that says so.
UNREADABLE = {
    ".adoc": "AsciiDoc is not supported yet (no maintained AsciiDoc parser is installed); convert it to Markdown "
             "or HTML (asciidoctor -b html5)",
    ".asciidoc": "AsciiDoc is not supported yet (no maintained AsciiDoc parser is installed); convert it to "
                 "Markdown or HTML (asciidoctor -b html5)",
    ".doc": "old Word format (.doc) is not read; save it as .docx (Word, or libreoffice --convert-to docx)",
}
SUPPORTED_LIST = " ".join(sorted(SUPPORTED))
MAX_BYTES = 5 * 1024 * 1024
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".hg", ".svn"}


@dataclass
class RawDoc:
    """Bytes of one source, decoded, with what we know about where it came from."""

    source: str
    text: str
    kind: str  # md | html | txt | rst | qmd | ipynb | pdf | docx (the last two: text is converted Markdown)
    modified: str
    content_hash: str


@dataclass
class Skipped:
    """A file, folder or URL that was not ingested, and why.

    `rule` marks what a documented rule leaves out of a folder (a type that is
    not a page, an --exclude glob, a hidden folder, a socket): reported, but not
    a failure. Everything else (a page that could not be read) makes the run
    exit 1.
    """

    source: str
    reason: str
    rule: bool = False


def reason_key(reason: str) -> str:
    """The reason without its particulars ('too large (812 KiB > 5120 KiB)' -> 'too large'), for counts."""
    key = reason.split(";", 1)[0].split(" (", 1)[0]
    return key.split(": ", 1)[0].strip()


def iter_files(paths: Iterable[str], include: Sequence[str] = (), exclude: Sequence[str] = ()
               ) -> Iterator[Path | Skipped]:
    """Expand folders recursively (sorted), giving every entry an outcome.

    Inside a folder, files of a type kb does not read, files that match an
    `exclude` glob (or match no `include` glob) and special files are Skipped by
    rule; hidden and vendored folders (.git, node_modules...) are not walked and
    are reported once each; symlinked folders are not followed (no loops). A
    file named on its own is always tried, so an unsupported one is a failure.
    """
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            st = path.lstat()
        except OSError:
            yield Skipped(str(path), "no such file or folder")
            continue
        special = _special(path, st)
        if special:
            yield Skipped(str(path), special)
        elif path.is_dir():
            yield from _walk(path, include, exclude)
        else:
            yield path


def _walk(top: Path, include: Sequence[str], exclude: Sequence[str]) -> Iterator[Path | Skipped]:
    def on_error(exc: OSError) -> None:
        failures.append(Skipped(str(exc.filename or top), f"unreadable folder: {exc.strerror or exc}"))

    failures: list[Skipped] = []
    for root, dirs, files in os.walk(top, onerror=on_error):
        yield from failures
        failures.clear()
        here = Path(root)
        kept = []
        for d in sorted(dirs):
            rel = (here / d).relative_to(top).as_posix()
            if d in SKIP_DIRS or d.startswith("."):
                yield Skipped(source_id(here / d), "hidden or vendored folder, not walked", rule=True)
            elif _matches(rel + "/", exclude) or _matches(rel, exclude):
                yield Skipped(source_id(here / d), "excluded by --exclude", rule=True)
            elif (here / d).is_symlink():
                yield Skipped(str((here / d).absolute()), "symlink to a folder, not followed (name the folder itself)",
                              rule=True)
            else:
                kept.append(d)
        dirs[:] = kept
        for name in sorted(files):
            path = here / name
            rel = path.relative_to(top).as_posix()
            if name.startswith("."):
                yield Skipped(source_id(path), "hidden file", rule=True)
            elif _matches(rel, exclude):
                yield Skipped(source_id(path), "excluded by --exclude", rule=True)
            elif include and not _matches(rel, include):
                yield Skipped(source_id(path), "not matched by --include", rule=True)
            else:
                yield _check_entry(path)
    yield from failures


def _matches(rel: str, globs: Sequence[str]) -> bool:
    """A glob matches the path relative to the folder, or (without a '/') the file name."""
    name = rel.rstrip("/").rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel, g) or ("/" not in g.rstrip("/") and fnmatch.fnmatchcase(name, g))
               or fnmatch.fnmatchcase(rel, g.rstrip("/") + "/*") for g in globs)


def _check_entry(path: Path) -> Path | Skipped:
    """A folder entry: a readable page type, or Skipped (by rule for what is not a page)."""
    suffix = path.suffix.lower()
    is_page = suffix in SUPPORTED
    try:
        st = path.lstat()
    except OSError as exc:
        return Skipped(source_id(path), f"unreadable: {exc.strerror or exc}")
    special = _special(path, st)
    if special:
        return Skipped(str(path.absolute()), special, rule=not is_page and "symlink" not in special)
    if not is_page:
        return Skipped(source_id(path), UNREADABLE.get(suffix) or _unsupported(path), rule=True)
    return path


def _special(path: Path, st: os.stat_result) -> str:
    """Why an entry cannot be read as a page file ('' when it can be tried)."""
    if stat.S_ISLNK(st.st_mode):
        try:
            st = path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "symlink loop"
            return "broken symlink (its target does not exist)"
        except RuntimeError:  # pathlib's own loop detection
            return "symlink loop"
    mode = st.st_mode
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device, not a regular file"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "not a regular file"
    return ""


def _unsupported(path: Path) -> str:
    return f"unsupported file type {path.suffix.lower() or '(none)'!r} (supported: {SUPPORTED_LIST})"


def source_id(path: Path) -> str:
    """Absolute path: the same file ingested from two working folders is one page."""
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # a symlink loop: keep the path as given
        return str(path.absolute())


def read_file(path: Path, max_bytes: int = MAX_BYTES) -> RawDoc | Skipped:
    """Read one file; only a regular file is ever opened, and never in a way that can block."""
    src = source_id(path)
    suffix = path.suffix.lower()
    kind = SUPPORTED.get(suffix)
    if kind is None:
        return Skipped(src, UNREADABLE.get(suffix) or _unsupported(path))
    try:
        special = _special(path, path.lstat())
        if special:
            return Skipped(src, special)
        # O_NONBLOCK: a FIFO swapped in after the check above cannot hang the run (and the ingest lock)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return Skipped(src, "not a regular file")
            if st.st_size > max_bytes:
                return Skipped(src, f"too large ({st.st_size // 1024} KiB > {max_bytes // 1024} KiB)")
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return Skipped(src, f"unreadable: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return Skipped(src, f"too large (> {max_bytes // 1024} KiB)")
    modified = datetime.fromtimestamp(st.st_mtime, tz=UTC).isoformat(timespec="seconds")
    return decode(src, data, kind, modified)


EMPTY = "empty"  # reasons a page was read fine but holds nothing to index (ingest/pipeline.py NOTHING_TO_INDEX)
NO_TEXT = "no text left after cleaning"


def decode(source: str, data: bytes, kind: str, modified: str) -> RawDoc | Skipped:
    """Check the bytes look like text before anything else sees them (binary formats: convert them)."""
    if not data.strip():
        return Skipped(source, EMPTY)
    if kind in CONVERTED:
        return convert(source, data, kind, modified)
    if b"\x00" in data[:8192]:
        return Skipped(source, "binary content (NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(source, f"not UTF-8 text (byte {exc.start}); convert it with iconv -t UTF-8")
    digest = hashlib.sha256(data).hexdigest()
    return RawDoc(source=source, text=text, kind=kind, modified=modified, content_hash=digest)


def convert(source: str, data: bytes, kind: str, modified: str) -> RawDoc | Skipped:
    """A PDF or Word file as Markdown; a file the converter cannot read (encrypted, scanned, damaged) is
    Skipped with the converter's reason, and no converter error can stop the run."""
    from ingest.pdf import pdf_to_markdown
    from ingest.word import docx_to_markdown

    try:
        text = pdf_to_markdown(data) if kind == "pdf" else docx_to_markdown(data)
    except ValueError as exc:
        return Skipped(source, str(exc))
    except Exception as exc:  # noqa: BLE001 - a damaged file is one skipped page, not a failed run
        return Skipped(source, f"could not be parsed: {type(exc).__name__}: {str(exc)[:200]}")
    return RawDoc(source=source, text=text, kind=kind, modified=modified,
                  content_hash=hashlib.sha256(data).hexdigest())
