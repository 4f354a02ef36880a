"""Quarto (.qmd) and R Markdown (.Rmd) pages to plain Markdown.

Quarto is Pandoc Markdown plus a few constructs; this module rewrites those,
then the page is cleaned like any Markdown page (front matter to metadata):

- `:::` div fences go; a callout (`{.callout-tip title="..."}`) keeps its kind
  and title as a label ("Tip: ..."), its heading-as-title included; the content
  of every other div (tab sets, columns, layouts) stays; cell outputs
  (`.cell-output*`) and raw blocks (```` ```{=html} ````) are dropped;
- code cells keep their code as a fenced block (```` ```{python} ```` ->
  ```` ```python ````); their `#|` option lines are dropped;
- heading attributes (`## Setup {#sec-setup}`), span and image attributes
  (`[text]{.smallcaps}`, `![a](b.png){width=50%}`) and shortcodes
  (`{{< include ... >}}`, `{{< video ... >}}`) are dropped;
- cross-references (`@sec-setup`, `@fig-loss`, `[-@tbl-x]`) read as the title
  of the section (or the caption of the figure/table) they point to on the same
  page, else as "Section setup", "Figure loss", ...
"""

from __future__ import annotations

import re

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(.*)$")
DIV = re.compile(r"^\s*(:{3,})\s*(.*?)\s*:*\s*$")
HEADING_ATTRS = re.compile(r"^(#{1,6}\s+.*?)\s*\{[^{}]*\}\s*$")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$")
ID_ATTR = re.compile(r"\{[^{}]*#([\w:-]+)[^{}]*\}")
SHORTCODE = re.compile(r"\{\{<\s*.*?\s*>\}\}")
SPAN = re.compile(r"(?<!!)\[([^\[\]]*)\]\{[^{}]*\}")
AFTER_LINK_ATTRS = re.compile(r"(\]\([^()\s]*(?:\s+\"[^\"]*\")?\))\{[^{}]*\}")
CROSSREF = re.compile(r"\[?-?@((sec|fig|tbl|eq|lst|thm|lem|cor|prp|cnj|def|exm|exr|sol|rem)-[\w-]*\w)\]?")
CALLOUT = re.compile(r"(?:^|[\s{.])callout-(\w+)")
TITLE_ATTR = re.compile(r"""title\s*=\s*(?:"([^"]*)"|'([^']*)')""")
CAPTION = re.compile(r"!\[([^\]]*)\]\([^)]*\)\{[^{}]*#([\w-]+)")
KINDS = {"sec": "Section", "fig": "Figure", "tbl": "Table", "eq": "Equation", "lst": "Listing", "thm": "Theorem",
         "lem": "Lemma", "cor": "Corollary", "prp": "Proposition", "cnj": "Conjecture", "def": "Definition",
         "exm": "Example", "exr": "Exercise", "sol": "Solution", "rem": "Remark"}


def quarto_to_markdown(text: str) -> str:
    labels = _labels(text)
    out: list[str] = []
    stack: list[str] = []  # open divs: "drop" | "callout" | "keep"
    pending_label = ""  # a callout's label, waiting for its first line
    fence = ""  # the open code fence, if any
    drop_fence = in_cell_head = False
    for line in text.splitlines():
        m = FENCE.match(line)
        if fence:
            if m and m.group(2).startswith(fence) and not m.group(3).strip():
                fence = ""
                if not drop_fence and "drop" not in stack:
                    out.append(line)
                continue
            if drop_fence or "drop" in stack:
                continue
            if in_cell_head and line.lstrip().startswith("#|"):
                continue
            in_cell_head = False
            out.append(line)
            continue
        if m:
            fence, info = m.group(2), m.group(3).strip()
            drop_fence = info.startswith("{=")  # a raw block for one output format
            in_cell_head = True
            if not drop_fence and "drop" not in stack:
                if pending_label:
                    out.append(pending_label if ":" in pending_label else f"{pending_label}:")
                    pending_label = ""
                out.append(f"{m.group(1)}{fence}{_language(info)}")
            continue
        d = DIV.match(line)
        if d:
            attrs = d.group(2)
            if attrs:  # an opening fence
                kind = _div_kind(attrs)
                stack.append(kind)
                if kind == "callout":
                    pending_label = _callout_label(attrs)
            elif stack:
                stack.pop()
            continue
        if "drop" in stack:
            continue
        line = _inline(line, labels)
        if pending_label and line.strip():
            h = HEADING.match(line)
            if ":" in pending_label:  # titled: the title is its own line
                out.append(pending_label)
                line = h.group(1) if h else line
            elif h:
                line = f"{pending_label}: {h.group(1)}"
            elif line.lstrip().startswith(("- ", "* ", "|", ">")) or re.match(r"\s*\d+\.\s", line):
                out.append(f"{pending_label}:")
            else:
                line = f"{pending_label}: {line.strip()}"
            pending_label = ""
        out.append(line)
    return "\n".join(out)


def _language(info: str) -> str:
    """'{python}' / '{.bash}' / '{r, echo=FALSE}' / 'yaml' -> the language name."""
    info = info.strip("{} ")
    return re.split(r"[\s,}]", info.lstrip("."), maxsplit=1)[0] if info else ""


def _div_kind(attrs: str) -> str:
    if re.search(r"\.cell-output|\.content-hidden|\.hidden\b", attrs):
        return "drop"
    if CALLOUT.search(attrs) or re.fullmatch(r"\{?\.?(note|tip|warning|important|caution)\}?", attrs.strip()):
        return "callout"
    return "keep"


def _callout_label(attrs: str) -> str:
    m = CALLOUT.search(attrs)
    kind = (m.group(1) if m else attrs.strip("{}. ")).capitalize()
    t = TITLE_ATTR.search(attrs)
    title = (t.group(1) or t.group(2)).strip() if t else ""
    return f"{kind}: {title}" if title else kind


def _labels(text: str) -> dict[str, str]:
    """Cross-reference ids defined on the page -> what they read as (a heading's title, a figure's caption)."""
    labels: dict[str, str] = {}
    for line in text.splitlines():
        h = HEADING_ATTRS.match(line)
        a = ID_ATTR.search(line)
        if h and a:
            labels[a.group(1)] = HEADING.match(h.group(1)).group(1)  # type: ignore[union-attr]
        for cap, ident in CAPTION.findall(line):
            if cap.strip():
                labels[ident] = cap.strip()
    return labels


def _inline(line: str, labels: dict[str, str]) -> str:
    h = HEADING_ATTRS.match(line)
    if h:
        line = h.group(1)
    line = SHORTCODE.sub("", line)
    line = AFTER_LINK_ATTRS.sub(r"\1", line)
    line = SPAN.sub(r"\1", line)
    line = CROSSREF.sub(lambda m: labels.get(m.group(1)) or _fallback(m.group(1), m.group(2)), line)
    return line.rstrip()


def _fallback(ident: str, kind: str) -> str:
    return f"{KINDS[kind]} {ident.split('-', 1)[1].replace('-', ' ').replace('_', ' ')}".strip()
