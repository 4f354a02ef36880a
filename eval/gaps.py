"""What the knowledge base does not cover: refused questions, grouped and counted.

kb.gaps.log_refusal appends one line per refused question (from `kb ask`, the
Slack bot and the eval) to `settings.data_dir/gaps.jsonl`. Here the log is read
back, near-identical questions are grouped (same content words, or most of
them), and the groups are ranked by how often they were asked, for page owners.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kb.text import content_words

SAME_TOPIC = 0.6  # Jaccard overlap of content words that makes two questions one topic


@dataclass
class Gap:
    question: str  # the most recent phrasing
    count: int
    first_asked: str
    last_asked: str
    via: dict[str, int]
    closest_topics: list[str]
    phrasings: list[str] = field(default_factory=list)  # other distinct phrasings, most recent first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def log_path(settings: Any) -> Path:
    return Path(settings.data_dir) / "gaps.jsonl"


def read_log(path: Path) -> list[dict[str, Any]]:
    """Entries oldest first; damaged or partial lines (a crash mid-write) are skipped."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("question"), str) and item["question"].strip():
            out.append(item)
    return sorted(out, key=lambda x: str(x.get("time", "")))


def topic_words(question: str) -> frozenset[str]:
    return frozenset(w for w in content_words(question.replace("\u2019", "'")) if "'" not in w)


def same_topic(a: frozenset[str], b: frozenset[str], threshold: float = SAME_TOPIC) -> bool:
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= threshold


def group_gaps(entries: list[dict[str, Any]], threshold: float = SAME_TOPIC) -> list[Gap]:
    """Group near-identical questions; most asked first, then most recently asked."""
    groups: list[tuple[frozenset[str], list[dict[str, Any]]]] = []
    for entry in entries:
        words = topic_words(entry["question"])
        for key, members in groups:
            if same_topic(words, key, threshold):
                members.append(entry)
                break
        else:
            groups.append((words, [entry]))
    gaps = []
    for _key, members in groups:
        latest = members[-1]
        closest = Counter(t for m in members for t in (m.get("closest") or []) if isinstance(t, str))
        phrasings = list(dict.fromkeys(" ".join(m["question"].split()) for m in reversed(members)))
        gaps.append(Gap(question=phrasings[0], count=len(members), first_asked=str(members[0].get("time", "")),
                        last_asked=str(latest.get("time", "")),
                        via=dict(Counter(str(m.get("via", "")) for m in members)),
                        closest_topics=[t for t, _ in closest.most_common(3)], phrasings=phrasings[1:]))
    gaps.sort(key=lambda g: g.last_asked, reverse=True)
    gaps.sort(key=lambda g: g.count, reverse=True)  # stable: ties stay most recent first
    return gaps


def gaps_text(gaps: list[Gap]) -> str:
    if not gaps:
        return "No refused questions logged yet."
    lines = [f"{'asked':>5}  {'last asked':19}  question"]
    for g in gaps:
        others = f" (+{len(g.phrasings)} other phrasings)" if g.phrasings else ""
        lines.append(f"{g.count:>5}  {g.last_asked[:19]:19}  {g.question}{others}")
        via = ", ".join(f"{k} {v}" for k, v in sorted(g.via.items()))
        closest = "; ".join(g.closest_topics) or "none"
        lines.append(f"{'':5}  {'':19}  via {via}; closest topics: {closest}")
    return "\n".join(lines)
