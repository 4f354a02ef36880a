"""`kb sync`: re-ingest the configured sources (kb.toml `[[sources]]`), once or on a schedule.

Each source is one incremental ingest (unchanged pages are never embedded again), so a sync
every hour costs a read of the files and nothing more when nothing changed. Folder and sitemap
sources prune by default: a page whose file left the folder (deleted in the git repo, say), or
that the sitemap no longer lists, leaves the store at the next sync; a folder that is not there
or a sitemap that cannot be read removes nothing. Each source's outcome is recorded in sync.json beside the store
(kb/sources.py) for `kb status`; a running `kb serve` or Slack bot sees the new pages at its
next question, because every write stamps a new store generation (kb/engine.py refresh()).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kb.settings import Settings
from kb.sources import SyncSource, write_status

GIT_TIMEOUT = 120  # seconds a `git pull` may take before the source is reported as failed


def sync_once(settings: Settings, store: Any, embedder: Callable[[], Any],
              echo: Callable[[str], None] = lambda _: None, names: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run every configured source (or those named) once; one status entry per source, also saved."""
    entries = []
    for source in settings.sources:
        if names and source.name not in names:
            continue
        echo(f"sync {source.name}: {source.kind} ...")
        entry = sync_source(settings, store, embedder, source)
        write_status(settings, source.name, entry)
        echo(f"sync {entry['name']}: {entry['outcome']}" + (f" ({entry['message']})" if entry["message"] else ""))
        entries.append(entry)
    return entries


def sync_source(settings: Settings, store: Any, embedder: Callable[[], Any], source: SyncSource) -> dict[str, Any]:
    """One source: pull (when asked), fetch, ingest; the outcome as a status entry, never an exception."""
    from ingest.fetch import fetch_urls
    from ingest.pipeline import run_ingest
    from kb.errors import KbError

    started = time.perf_counter()
    entry: dict[str, Any] = {"name": source.name, "kind": source.kind, "target": _target(source),
                             "last_run": datetime.now(UTC).isoformat(timespec="seconds"), "outcome": "ok",
                             "message": "", "counts": {}}
    problems: list[str] = []
    if source.path and not os.path.exists(source.path):
        # never prune a folder that is not there (an unmounted disk, a typo): its pages stay
        entry.update(outcome="failed", message=f"no such folder: {source.path}; its pages are kept",
                     seconds=round(time.perf_counter() - started, 1))
        return entry
    try:
        if source.git_pull:
            problems += _git_pull(source.path or "")
        docs, failed = [], []
        if source.urls or source.sitemap:
            docs, failed = fetch_urls(source.urls, [source.sitemap] if source.sitemap else [],
                                      timeout=settings.fetch_timeout, max_bytes=settings.max_page_bytes,
                                      allow_hosts=[*settings.fetch_allow_hosts, *source.allow_hosts])
        gone = _left_sitemap(settings, source, docs, failed, entry)
        report = run_ingest([source.path] if source.path else [], settings, store, embedder,
                            prune=source.prune and bool(source.path), wait=-1, extra_docs=docs,
                            extra_skipped=failed, include=source.include, exclude=source.exclude, remove=gone,
                            reopen=True)  # another process may have written since the last source or run
    except (KbError, OSError) as exc:
        problems.append(str(exc))
        report = None
    if report is not None:
        entry["counts"] = report.to_dict()["counts"]
        entry["chunks_written"] = report.chunks_written
        failures = [s for s in report.skipped if not s.rule]
        if failures:
            problems.append(f"{len(failures)} not ingested, e.g. {failures[0].source}: {failures[0].reason}")
    if problems:
        entry.update(outcome="failed", message="; ".join(problems))
    entry["seconds"] = round(time.perf_counter() - started, 1)
    return entry


def _left_sitemap(settings: Settings, source: SyncSource, docs: list, failed: list, entry: dict[str, Any]) -> list[str]:
    """The pages the sitemap listed at the last sync and no longer lists: removed (with `prune`).

    The listing is recorded in the status entry (`listed`). When the sitemap itself could not be
    read in full, nothing is removed and the last complete listing is kept for the next run.
    """
    if not source.sitemap:
        return []
    from kb.sources import read_status

    before = read_status(settings).get(source.name, {}).get("listed", [])
    if any(f.reason.startswith("sitemap") for f in failed):
        entry["listed"] = before
        return []
    listed = sorted({d.source for d in docs} | {f.source for f in failed} | set(source.urls))
    entry["listed"] = listed
    return sorted(set(before) - set(listed)) if source.prune else []


def _target(source: SyncSource) -> str:
    return source.path or source.sitemap or ", ".join(source.urls)


def _git_pull(path: str) -> list[str]:
    """`git pull --ff-only` in the clone; a failure is reported and the checkout as it is gets ingested."""
    try:
        proc = subprocess.run(["git", "-C", path, "pull", "--ff-only", "--quiet"], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})  # never wait for a password
    except FileNotFoundError:
        return ["git pull failed: git is not installed; the folder was ingested as it is"]
    except subprocess.TimeoutExpired:
        return [f"git pull timed out after {GIT_TIMEOUT}s; the folder was ingested as it is"]
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return [f"git pull failed ({why}); the folder was ingested as it is"]
    return []
