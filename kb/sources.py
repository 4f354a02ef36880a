"""The sources `kb sync` keeps fresh (kb.toml `[[sources]]`), and the status of their last runs.

The list is part of Settings (`sources`), so kb.toml, `KB_SOURCES` (JSON) and `kb config show`
all see it. The status file (`sync.json` beside the store) is written by `kb sync` (ingest/sync.py)
and read by `kb status`, which lives in the core and must not import ingest: both sides meet here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

STATUS_FILE = "sync.json"


class SyncSource(BaseModel):
    """One source: a folder (a git clone, optionally pulled first), URLs, or a sitemap; the same
    include/exclude/allow-host options as `kb ingest`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", description="Shown in `kb status`; default: the folder, URL or sitemap.")
    path: str | None = Field(None, description="A folder (relative: to the current folder).")
    git_pull: bool = Field(False, description="Run `git pull --ff-only` in `path` before ingesting it.")
    urls: list[str] = Field(default_factory=list)
    sitemap: str | None = None
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    allow_hosts: list[str] = Field(default_factory=list)
    prune: bool = Field(True, description="Remove stored pages whose file left the folder, or that left the sitemap.")

    @model_validator(mode="after")
    def _one_target(self) -> SyncSource:
        if not (self.path or self.urls or self.sitemap):
            raise ValueError("a source needs `path`, `urls` or `sitemap`")
        if self.git_pull and not self.path:
            raise ValueError("`git_pull` needs `path` (the local clone)")
        if not self.name:
            self.name = self.path or self.sitemap or self.urls[0]
        return self

    @property
    def kind(self) -> str:
        if self.path:
            return "git" if self.git_pull else "folder"
        return "sitemap" if self.sitemap else "urls"


def status_path(settings: Any) -> Path:
    return Path(settings.data_dir) / STATUS_FILE


def read_status(settings: Any) -> dict[str, dict[str, Any]]:
    """Source name -> its last run ({} before the first `kb sync`, or when the file is unreadable)."""
    try:
        data = json.loads(status_path(settings).read_text())
    except (OSError, ValueError):
        return {}
    return data.get("sources", {}) if isinstance(data, dict) else {}


def write_status(settings: Any, name: str, entry: dict[str, Any]) -> None:
    """Record one source's run; the file is private (it names folders and URLs) and replaced atomically."""
    from kb.private import write_private

    data = read_status(settings)
    data[name] = entry
    write_private(status_path(settings), json.dumps({"sources": data}, indent=2, ensure_ascii=False))


def sources_status(settings: Any) -> list[dict[str, Any]]:
    """Each configured source with its last run (or `never synced`), then sources no longer configured."""
    done = read_status(settings)
    out = []
    for src in settings.sources:
        last = done.get(src.name) or {"outcome": "never synced"}
        out.append({"name": src.name, "kind": src.kind, **shown(last)})
    configured = {s.name for s in settings.sources}
    out += [{"name": n, **shown(e), "configured": False} for n, e in sorted(done.items()) if n not in configured]
    return out


def shown(entry: dict[str, Any]) -> dict[str, Any]:
    """A status entry without its bookkeeping (`listed`: a sitemap's pages at the last run, kept for pruning)."""
    return {k: v for k, v in entry.items() if k not in ("listed",)}


def status_line(entry: dict[str, Any]) -> str:
    """`handbook (git): ok at 2026-11-30T13:00:00+00:00 (4.2s): added 1, updated 0, ...`"""
    head = f"{entry['name']} ({entry.get('kind', '?')})"
    if entry.get("outcome") == "never synced":
        return f"{head}: never synced (run kb sync)"
    counts = ", ".join(f"{k} {v}" for k, v in (entry.get("counts") or {}).items())
    text = f"{head}: {entry.get('outcome')} at {entry.get('last_run')} ({entry.get('seconds', 0)}s)"
    text += f": {counts}" if counts else ""
    if entry.get("message"):
        text += f"; {entry['message']}"
    if entry.get("configured") is False:
        text += " [no longer in kb.toml]"
    return text


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.I)


def parse_duration(text: str) -> float:
    """'90s', '30m', '1h', '1d' (a bare number is seconds) -> seconds; ValueError names the accepted forms."""
    m = DURATION.match(text or "")
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration; use e.g. 90s, 30m, 1h or 1d")
    unit = (m.group(2) or "s").lower()[0]
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
