"""Plain-text rendering of kb objects for the terminal."""

from __future__ import annotations

import re
import textwrap

from kb.types import Answer, Hit

# ANSI/VT escape sequences (CSI, OSC, and other ESC forms) and every other C0/C1 control
# character but newline and tab: page text must not move the cursor, retitle the
# terminal, hide text or write hyperlinks when `kb ask` prints it.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text safe to print on a terminal: escape sequences removed, other control characters dropped
    (bidirectional overrides too, so a line cannot display reordered)."""
    return CONTROLS.sub("", _ESCAPES.sub("", text))


def short(text: str, width: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def wrap(text: str, width: int = 100) -> str:
    """Wrap each line on its own, so a quoted list keeps one item per line."""
    return "\n".join(textwrap.fill(line, width, subsequent_indent="  " if line.startswith("- ") else "")
                     for line in text.split("\n"))


def answer_text(answer: Answer, explain: bool = False) -> str:
    """The answer, its sources (each page's URL when it has one, else its file path), the timing line;
    --explain adds the standalone question a follow-up became, the passages, the draft and the checks."""
    lines = [wrap(answer.answer), ""]
    if answer.citations:
        lines.append("Sources:")
        for c in answer.citations:
            lines.append(f"  [{c.id}] {c.title} — {c.section}")
            lines.append(f"      {c.link}")
            lines.append(f"      \u201c{short(c.quote)}\u201d")
    t = answer.timings
    lines.append("")
    lines.append(f"({answer.model}; {answer.mode}; retrieve {t.get('retrieve_s', 0):.2f}s, "
                 f"generate {t.get('generate_s', 0):.2f}s, total {t.get('total_s', 0):.2f}s)")
    if explain:
        if answer.follow_up_of:
            lines += ["", "Follow-up of: " + " / ".join(short(q, 120) for q in answer.follow_up_of),
                      f"Standalone question: {answer.standalone}"]
        lines += ["", "Retrieved passages:"]
        for i, hit in enumerate(answer.hits, start=1):
            lines.append(f"  {i}. score={hit.score:.4f} dense={hit.dense:.3f} bm25={hit.lexical:.2f}  "
                         f"{hit.chunk.title} — {hit.chunk.section}{' (more of a top page)' if hit.neighbour else ''}")
            lines.append(f"     {short(hit.chunk.text, 160)}")
        if answer.raw:
            lines += ["", "Model draft:", textwrap.indent(textwrap.fill(answer.raw, 96), "  ")]
        if answer.checks:
            lines += ["", "Sentence checks:"]
            for chk in answer.checks:
                cite = f" -> [{chk.citation}]" if chk.citation else ""
                why = f" ({chk.reason})" if chk.reason else ""
                lines.append(f"  {chk.action:7} support={chk.support:.2f}{cite}{why}: {short(chk.text, 140)}")
    return printable("\n".join(lines))


def hits_text(hits: list[Hit], urls: list[str] | None = None) -> str:
    """Passages as `kb search` prints them; `urls`: each hit's web address ('' for none), shown like a citation's."""
    lines = []
    for i, hit in enumerate(hits, start=1):
        lines.append(f"{i}. {hit.chunk.title} — {hit.chunk.section}  (score {hit.score:.4f}, "
                     f"similarity {hit.dense:.3f})")
        lines.append(f"   {hit.chunk.source}")
        url = urls[i - 1] if urls else ""
        if url and url != hit.chunk.source:
            lines.append(f"   {url}")
        lines.append(textwrap.indent(textwrap.fill(short(hit.chunk.text, 400), 96), "   "))
        lines.append("")
    return printable("\n".join(lines).rstrip())


def hit_dict(hit: Hit, url: str = "") -> dict:
    c = hit.chunk
    return {"id": c.id, "source": c.source, "url": url, "title": c.title, "section": c.section,
            "position": c.position, "text": c.text, "score": round(hit.score, 6), "similarity": round(hit.dense, 4),
            "bm25": round(hit.lexical, 4), "neighbour": hit.neighbour}
