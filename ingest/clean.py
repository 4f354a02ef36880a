"""Turn raw Markdown/MDX, HTML and text dumps into a Page with '#' headings.

Everything downstream (chunking, citations) relies on one shape: plain sentences
under Markdown headings, with page facts (title, description, keywords, term,
aliases) in metadata rather than in the text. Every line cleaning drops is
returned with its reason, so what cleaning does can be shown and tested.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ingest.boilerplate import Removed, strip_boilerplate
from ingest.fences import FENCE, code_lines
from ingest.glossary import markdown_glossary, term_metadata
from ingest.latex import display_math, inline_math
from ingest.myst import myst_to_markdown
from ingest.read import RawDoc
from ingest.tables import row_line, term_meaning
from kb.render import printable
from kb.text import sentences
from kb.types import Page

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.S)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INDENTED_HEADING = re.compile(r"^ {1,3}(#{1,6}\s)")
MDX_STATEMENT = re.compile(r"^\s*(import|export)\s")
JSX_TAG = re.compile(r"</?[A-Z][\w.]*(\s[^<>]*?)?/?>")
JSX_OPEN_UNCLOSED = re.compile(r"^\s*<[A-Z][\w.]*(\s[^<>]*)?$")
HTML_TAG = re.compile(r"</?[a-z][\w-]*(\s[^<>]*?)?/?>")
# a heading written as an element: '<h2 id="x">Title</h2>', or an MDX component rendered as one
# ('<SectionTab as="h2" sectionId="x">Title</SectionTab>'); its title may sit on lines of its own
HEADING_OPEN = re.compile(r"^\s*<(?P<tag>h(?P<h>[1-6])|[A-Z][\w.]*)(?=[\s>])(?P<attrs>[^<>]*)>(?P<rest>.*)$")
HEADING_AS = re.compile(r"""\bas=["']h([1-6])["']""")
SECTION_ID = re.compile(r"""\bsectionId=["']""")  # a component that opens a section renders as an h2
# an FAQ entry whose question is an attribute: '<FaqItem question="What is the size limit?">'
QUESTION_ITEM = re.compile(r"""^\s*<[A-Z][\w.]*\s[^<>]*?\bquestion=(["'])(?P<q>.+?)\1[^<>]*>\s*$""")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
MDX_COMMENT = re.compile(r"\{/\*.*?\*/\}", re.S)
ADMONITION = re.compile(r"^\s*:::\s*(\w+)?\s*(.*)$")
# MkDocs (Material) admonitions: '!!! note "Title"', and collapsible '??? info' / '???+ info', their body indented
MKDOCS_ADMONITION = re.compile(r"^(?P<indent>\s*)(?:!!!|\?\?\?\+?)\s*[\w-]+(?:\s+[\w-]+)*"
                               r"(?:\s+\"(?P<title>[^\"]*)\")?\s*$")
# an FAQ written as bold questions: '**Q: exitcode: -9**' then '> A: This usually happens when ...'
FAQ_QUESTION = re.compile(r"^\s*\*\*\s*Q(?:uestion)?\s*[:.]\s*(?P<q>.+?)\s*\*\*\s*$")
FAQ_ANSWER = re.compile(r"^(?P<lead>\s*(?:>\s*)*)A(?:nswer)?\s*[:.]\s+")
TOC_ITEM = re.compile(r"^\s*[-*+]\s+\[[^\]]+\]\(#[^)\s]*\)\s*$")  # '- [Tuning](#tuning)': the page's contents list
IMAGE_LINE = re.compile(r"^\s*(?:!\[[^\]]*\]\([^)]*\)\s*)+$")  # a figure: kb cannot show it, its alt text is no prose
MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)(\s+\"[^\"]*\")?\s*\)")
LINK_ITEM = re.compile(r"^(\s*[-*+]\s+)\[([^\]]+)\]\(([^)\s]+)(\s+\"[^\"]*\")?\)\s*$")
MD_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
GLUED_LABEL = re.compile(r"^([A-Z][\w ]{1,30}):(?=[A-Z\"“])")
BULLET_GLYPH = re.compile(r"^[•▪◦‣∙·✓✔✗✘✕×☑☐]\s*|^([-*]\s+)[✓✔✗✘✕×☑☐]\s*")
FRONT_KEYS = (str, int, float, bool, list)
# Markup that reads as noise in a quote (kb/junk.py says why); removed here so it never reaches a chunk.
BLOCKQUOTE = re.compile(r"^\s*(?:>(?!>>)\s?)+")  # '> text' and '> > text', not a '>>>' Python prompt
ALERT = re.compile(r"^\[!(\w+)\]\s*")  # GitHub's '> [!NOTE]'
DOC_LINK = re.compile(r"\[(`[^`\]]+`)\](?!\()")  # [`SFTTrainer`]: a cross-reference ({class}`X`: ingest/myst.py)
TEMPLATE_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")  # {{ site.baseurl }}, {% include x %}: unrendered Jekyll/Liquid
INLINE_CODE = re.compile(r"(`[^`\n]+`)")
FOOTNOTE = re.compile(r"^\s*\[\^[^\]\s]+\]:\s*|\[\^[^\]\s]+\]")  # '[^1]' marks and '[^1]: ' note labels
# '3 \* GPUs' reads '3 * GPUs'; an escaped '|' is left for the table rules, which read it
MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>~])")
HTML_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]{2,8});")
TABLE_LINE = re.compile(r"^\s*\|.*\S")  # a row; some pages drop the closing pipe
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?\s*$")


def clean_doc(raw: RawDoc) -> tuple[Page, list[Removed]]:
    """The cleaned page and every line cleaning dropped (with its reason)."""
    # terminal escape sequences and control characters are never content: gone before any parsing,
    # so no chunk (and no quote) carries them and they cannot make a sentence look like code
    raw = replace(raw, text=printable(raw.text.replace("\r\n", "\n").replace("\r", "\n")))
    entries: list[list[str]] = []
    if raw.kind == "html":
        title, text, front, removed = clean_html(raw.text)
    elif raw.kind == "rst":
        title, text, front, removed, entries = clean_rst(raw.text, raw.source)
    elif raw.kind == "qmd":
        from ingest.quarto import quarto_to_markdown

        title, text, front, removed = clean_markdown(quarto_to_markdown(raw.text))
    elif raw.kind == "ipynb":
        from ingest.notebook import notebook_to_markdown

        title, text, front, removed = clean_markdown(notebook_to_markdown(raw.text))
    elif raw.kind in ("md", "pdf", "docx") or looks_like_markdown(raw.text):  # pdf/docx: converted at read
        title, text, front, removed = clean_markdown(raw.text)
    else:
        title, text, front, removed = clean_text(raw.text)
    title = title or _title_from_source(raw.source)
    text = example_lead_ins(text)
    meta = {k: v for k, v in front.items() if isinstance(v, FRONT_KEYS)}
    meta.update(term_metadata(title, front, text))
    if not entries and raw.kind in ("md", "qmd"):
        text, entries = markdown_glossary(title, raw.text, text)  # one term record per entry
    if entries:
        meta["glossary_entries"] = entries  # chunking tags each entry's chunk with its names
    page = Page(source=raw.source, title=title, text=text, kind=raw.kind, metadata=meta,
                modified=raw.modified, content_hash=raw.content_hash)
    return page, removed


EXAMPLE_POINTER = re.compile(r"(?:,\s*|\s+)\(?(?:e\.g\.|eg\.|for example|for instance|such as|like so)\)?,?\s*:\s*$",
                             re.I)
LEAD_WORDS = 5
# A lead-in that points at the code after it says nothing without the code; one that ends on a word
# that needs what follows ('... messages like:', '... can be used with:') is not a sentence without it.
POINTS_AT_CODE = re.compile(r"\b(?:follow(?:ing|s)|below|above|like (?:so|this|that)|as shown|shown here|"
                            r"here(?:'s| is| are)|an? (?:example|sample|snippet)|for example|e\.g\.|i\.e\.|"
                            r"(?:this|these|that) (?:commands?|code|snippets?|config\w*|files?|calls?|requests?|"
                            r"functions?|templates?|formats?|way|steps?|lines?|output|signature)|"
                            r"the (?:commands?|code|snippet|output|signature)|looks?|something)\b", re.I)
OPEN_END = re.compile(r"\b(?:like|with|using|as|via|by|to|of|for|in|on|from|into|the|a|an|is|are|be|and|or|use|"
                      r"run|do|set|add|pass|call|type|enter|include|write|try|this|these|that|then|when|where|"
                      r"which|than|its|their|your|our|e\.g|i\.e|looks?|seems?|becomes?)\W*$", re.I)
SELF_STANDING_WORDS = 10  # a lead-in to code this long that points at nothing states a fact of its own


def example_lead_ins(text: str) -> str:
    """A sentence that leads into a code block but states a fact of its own ends with a full stop instead
    of the colon: the code is never quoted, so as a lead-in the sentence was dropped with it
    (kb/junk.py), and its fact went too. Two kinds: a trailing example pointer ('Pass a smaller dtype,
    e.g.:' -> 'Pass a smaller dtype.'), and a long sentence that points at nothing ('First write a
    profile file whose speed line names the spin rate the gizmo uses at first:'). A lead-in that says
    nothing without its code ('For example:', 'Run the following command:', 'It looks like this:') is
    left as it is."""
    lines = text.split("\n")
    code = code_lines(lines)
    for i, line in enumerate(lines):
        if code[i] or not line.rstrip().endswith(":"):
            continue
        nxt = next((x for x in lines[i + 1:] if x.strip()), "")
        if not FENCE.match(nxt) or HEADING.match(line):
            continue
        m = EXAMPLE_POINTER.search(line)
        head = line[:m.start()].rstrip() if m else line.rstrip()[:-1].rstrip()
        sentence = _last_sentence(lines, i, head)
        words = len(sentence.split())
        if not head[-1:].isalnum() and head[-1:] not in "`)\"'":
            continue
        if not sentence[:1].isupper() and sentence[:1] not in "`\"'" or OPEN_END.search(head):
            continue  # a fragment of a wrapped line, or a sentence that needs what follows it
        if (m and words >= LEAD_WORDS) or (words >= SELF_STANDING_WORDS and not POINTS_AT_CODE.search(sentence)):
            lines[i] = head + "."
    return "\n".join(lines)


def _last_sentence(lines: list[str], i: int, head: str) -> str:
    """The sentence that ends the paragraph whose last line is lines[i] (cut to `head`)."""
    para = [head]
    item = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
    if not item.match(lines[i]):
        for line in reversed(lines[:i]):
            if not line.strip() or FENCE.match(line) or HEADING.match(line):
                break
            para.insert(0, line.strip())
            if item.match(line):
                break
    joined = item.sub("", " ".join(para))
    return (sentences(joined) or [joined])[-1]


def looks_like_markdown(text: str) -> bool:
    """Text dumps of docs sites are often Markdown/MDX saved as .txt."""
    if FRONT_MATTER.match(text):
        return True
    return sum(1 for line in text.splitlines() if HEADING.match(line)) >= 2


def _title_from_source(source: str) -> str:
    name = source.rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"\.(md|mdx|markdown|html?|txt|rst|rest|qmd|rmd|ipynb|pdf|docx)$", "", name, flags=re.I)
    return name.replace("-", " ").replace("_", " ").strip().capitalize() or source


def parse_front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, text
    import yaml

    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    return meta, text[match.end():]


def clean_markdown(text: str, *, dump: bool = False) -> tuple[str, str, dict[str, Any], list[Removed]]:
    """Front matter to metadata; MDX import/export lines and JSX tags out, their text and links kept."""
    front, body = parse_front_matter(text)
    body = html_tables(MDX_COMMENT.sub("", HTML_COMMENT.sub("", body)))
    lines: list[str] = []
    in_tag = False
    # MyST directives, roles and targets as text (ingest/myst.py); a $$ formula a fenced block, like code
    source = _element_headings(_without_empty_components(_whole_tags(display_math(myst_to_markdown(
        _faq_questions(_mkdocs_admonitions(body.splitlines())))))))
    dropped: list[Removed] = []  # figures and contents links, each with its reason
    for line, code in zip(source, code_lines(source), strict=True):
        if code:
            lines.append(line)
            continue
        if IMAGE_LINE.match(line):
            dropped.append(Removed(line.strip(), "an image"))
            continue
        if TOC_ITEM.match(line):  # navigation: the heading it points to is on the page
            dropped.append(Removed(line.strip(), "a contents link"))
            continue
        if in_tag:  # attributes of a JSX tag spread over several lines
            in_tag = ">" not in line
            continue
        if JSX_OPEN_UNCLOSED.match(line):
            in_tag = True
            continue
        if MDX_STATEMENT.match(line) and not line.strip().endswith((".", "?", "!")):
            continue
        adm = ADMONITION.match(line)
        if adm:
            lines.append(adm.group(2).strip())  # ':::note Title' keeps its title, ':::' goes
            continue
        line = INDENTED_HEADING.sub(r"\1", line)
        line = BLOCKQUOTE.sub("", line)
        line = ALERT.sub(lambda m: f"{m.group(1).capitalize()}: ", line)
        line = _outside_code(DOC_LINK.sub(lambda m: m.group(1) or "", line), lambda t: TEMPLATE_TAG.sub("", t))
        line = _outside_code(line, inline_math)  # '$O(n^2)$' -> 'O(n^2)' (ingest/latex.py)
        # a tag shown as code ('`<pad>`', '`<think>...</think>`') is content, not markup
        line = _outside_code(line, lambda t: HTML_TAG.sub("", JSX_TAG.sub(lambda m: _jsx_text(m.group(0)), t)))
        line = _outside_code(line, lambda t: FOOTNOTE.sub("", t))  # '... two 24GB GPUs[^1].': the mark goes
        line = LINK_ITEM.sub(lambda m: f"{m.group(1)}{m.group(2)} ({m.group(3)})", line)
        line = _around_code(line, lambda t: MD_EMPHASIS.sub(r"\2", MD_LINK.sub(lambda m: m.group(1), t)))
        line = _outside_code(line, lambda t: MD_ESCAPE.sub(r"\1", t))
        line = _outside_code(line, lambda t: HTML_ENTITY.sub(lambda m: html.unescape(m.group()), t))
        lines.append(line.rstrip())
    lines, removed = strip_boilerplate(lines, dump=dump)
    removed = dropped + removed
    lines = markdown_tables(lines)
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = str(front.get("title") or "").strip()
    if not title:  # the first H1 outside code: a '# comment' in a code block is no title
        body_lines = body.splitlines()
        for line, code in zip(body_lines, code_lines(body_lines), strict=True):
            m = None if code else HEADING.match(line)
            if m and len(m.group(1)) == 1:
                title = m.group(2)
                break
    return title, body, front, removed


COMPONENT_OPEN = re.compile(r"^\s*<(?P<tag>[A-Z][\w.]*)(?:\s[^<>]*)?(?<!/)>\s*$")
COMPONENT_ALONE = re.compile(r"^\s*<[A-Z][\w.]*(?:\s[^<>]*)?/>\s*$")  # '<BatchPixtralTab/>': imported, not on the page


def _without_empty_components(lines: list[str]) -> list[str]:
    """An element that holds only imported components, outside code, goes with its label: '<ExplorerTab
    label="Image + text input (Pixtral-12B)">' around '<BatchPixtralTab/>' left the tab's label as a line of
    its own, quoted as if it said something. A tab with text inside keeps its label (`_jsx_text`)."""
    code = code_lines(lines)
    drop: set[int] = set()
    for i, line in enumerate(lines):
        m = None if code[i] or i in drop else COMPONENT_OPEN.match(line)
        if not m:
            continue
        close = f"</{m.group('tag')}>"
        # the first line that is no lone component ends it: the element is empty only if that line closes it
        end = next((k for k in range(i + 1, len(lines))
                    if code[k] or (lines[k].strip() and not COMPONENT_ALONE.match(lines[k]))), None)
        if end is not None and not code[end] and lines[end].strip() == close:
            drop.update(range(i, end + 1))
    return [line for i, line in enumerate(lines) if i not in drop]


def _faq_questions(lines: list[str]) -> list[str]:
    """An FAQ's bold questions ('**Q: exitcode: -9**') as headings one level below the section they sit in, and
    the 'A:' label off the answer after each: one page of thirty questions was one chunk per section, so no
    question found its answer ('My training died with exit code -9' never ranked the FAQ in the top 20)."""
    out: list[str] = []
    code = code_lines(lines)
    level, answer = 2, False
    for line, is_code in zip(lines, code, strict=True):
        heading = None if is_code else HEADING.match(line)
        if heading:
            level = len(heading.group(1)) + 1
        q = None if is_code else FAQ_QUESTION.match(line)
        if q:
            out.append(f"{'#' * min(level, 6)} {q.group('q')}")
            answer = True
            continue
        if answer and line.strip():
            line, answer = FAQ_ANSWER.sub(lambda m: m.group("lead"), line, count=1), False
        out.append(line)
    return out


def _mkdocs_admonitions(lines: list[str]) -> list[str]:
    """MkDocs admonitions as prose: the '!!! note' / '???+ info' line goes (its quoted title stays, as for
    ':::note Title'), and the body indented under it moves out to the admonition's own indent, so its
    sentences read as the page's. Left as they were, '???+ info' was glued to the sentence after it."""
    out: list[str] = []
    code = code_lines(lines)
    body: int | None = None  # the admonition line's indent while inside its body
    for line, is_code in zip(lines, code, strict=True):
        if body is not None and line.strip() and len(line) - len(line.lstrip()) <= body:
            body = None
        m = None if is_code else MKDOCS_ADMONITION.match(line)
        if m:
            body = len(m.group("indent"))
            if m.group("title"):
                out.append(m.group("indent") + m.group("title").strip())
            continue
        if body is not None and line.startswith(" " * (body + 4)):
            line = line[:body] + line[body + 4:]
        out.append(line)
    return out


OPEN_TAG = re.compile(r"<[A-Za-z][\w.-]*(?:\s[^<>]*)?$")  # a tag whose attributes go on to the next line
ESM_PARAGRAPH = re.compile(r"^(?:(?:import|export)\s[^;'\"]*?(?:\sfrom\s*)?['\"][^'\"\n]+['\"];?\s*)+$")
TAG_LINES = 6


def _whole_tags(lines: list[str]) -> list[str]:
    """Lines with markup that a page wrapped over several lines put back on one, outside code, so the
    line rules can see it whole: an HTML tag whose attributes run on (`<img alt="x"` / `src=...>`), and
    an MDX paragraph of import statements wrapped mid-statement (`import A from` / `'@site/a'; import
    B ...`), which is dropped. Each half alone read as prose ('ContextWindowSimulator from ...')."""
    out: list[str] = []
    code = code_lines(lines)
    i = 0
    while i < len(lines):
        line = lines[i]
        if code[i]:
            out.append(line)
            i += 1
            continue
        if MDX_STATEMENT.match(line) and (not out or not out[-1].strip()):
            j = i
            while j + 1 < len(lines) and lines[j + 1].strip() and not FENCE.match(lines[j + 1]):
                j += 1
            if ESM_PARAGRAPH.match(" ".join(x.strip() for x in lines[i:j + 1])):
                i = j + 1
                continue
        if OPEN_TAG.search(line) and not JSX_OPEN_UNCLOSED.match(line):
            ends = [k for k in range(i + 1, min(i + TAG_LINES, len(lines))) if ">" in lines[k]]
            if ends and all(lines[k].strip() and not FENCE.match(lines[k]) for k in range(i + 1, ends[0] + 1)):
                line = " ".join([line.rstrip()] + [x.strip() for x in lines[i + 1:ends[0] + 1]])
                i = ends[0]
        out.append(line)
        i += 1
    return out


def _outside_code(line: str, fix: Callable[[str], str]) -> str:
    """`fix` applied to the line's text outside `inline code` (a template tag shown in code is content)."""
    return "".join(part if INLINE_CODE.fullmatch(part) else fix(part) for part in INLINE_CODE.split(line))


def _around_code(line: str, fix: Callable[[str], str]) -> str:
    """`fix` applied to the whole line with its `inline code` held aside: '**Use `x` here**' loses its
    emphasis marks, while '`__init__`' and '`**kwargs`' keep what they say."""
    held: list[str] = []

    def hold(m: re.Match[str]) -> str:
        held.append(m.group(0))
        return f"\x00{len(held) - 1}\x00"

    fixed = fix(INLINE_CODE.sub(hold, line)) if "`" in line else fix(line)
    return re.sub(r"\x00(\d+)\x00", lambda m: held[int(m.group(1))], fixed)


HTML_TABLE = re.compile(r"<table\b.*?</table\s*>", re.S | re.I)
FENCED = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)


def html_tables(body: str) -> str:
    """An HTML `<table>` written into a Markdown page, as a Markdown table (then one line a row, as for
    every table). Left to the tag rules, its cells were glued into one run of words without labels."""
    out, pos = [], 0
    for fence in list(FENCED.finditer(body)) + [None]:
        end = fence.start() if fence else len(body)
        out.append(HTML_TABLE.sub(lambda m: "\n" + _html_table(m.group()) + "\n", body[pos:end]))
        if fence:
            out.append(fence.group())
            pos = fence.end()
    return "".join(out)


def _html_table(markup: str) -> str:
    from html.parser import HTMLParser

    rows: list[list[str]] = []

    class Cells(HTMLParser):
        cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag == "tr":
                rows.append([])
            elif tag in ("td", "th") and rows:
                self.cell = []
            elif tag == "br" and self.cell is not None:
                self.cell.append(" ")

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.cell is not None and rows:
                rows[-1].append(" ".join("".join(self.cell).split()).replace("|", "/"))
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    Cells(convert_charrefs=True).feed(markup)
    rows = [r for r in rows if any(r)]
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    lines = ["| " + " | ".join(r + [""] * (width - len(r))) + " |" for r in rows]
    return "\n".join([lines[0], "|" + "---|" * width] + lines[1:])


def markdown_tables(lines: list[str]) -> list[str]:
    """Markdown tables (outside code) as one paragraph a row, written by ingest/tables.py's rule (the same
    for every format): 'Header: cell; Header: cell', or 'term: meaning' for a table of terms. Flattened into a
    paragraph, '| a | b |' rows were one long sentence of pipes that could be neither read nor quoted."""
    out: list[str] = []
    code = code_lines(lines)
    i = 0
    while i < len(lines):
        line = lines[i]
        ruled = i + 1 < len(lines) and bool(TABLE_RULE.match(lines[i + 1]))
        if code[i] or not (TABLE_LINE.match(line) and (ruled or _unruled_table(lines[i:i + 2]))):
            out.append(line)
            i += 1
            continue
        header = _cells(line)
        i += 2 if ruled else 1
        rows: list[list[str]] = []
        while i < len(lines) and TABLE_LINE.match(lines[i]):
            rows.append(_cells(lines[i]))
            i += 1
        if out and out[-1].strip():
            out.append("")
        pairs = term_meaning(header, rows)
        for cells in rows:
            row = row_line(header, cells, pairs)
            if row:
                out += [row, ""]
    return out


def _unruled_table(lines: list[str]) -> bool:
    """Two '| a | b |' rows of the same width with no '|---|' rule under the first: a table all the same
    (an HTML table without header cells comes out of trafilatura this way); the first row is its header."""
    rows = [line.strip() for line in lines]
    if len(rows) < 2 or not all(r.startswith("|") and r.endswith("|") and len(r) > 2 for r in rows):
        return False
    widths = {len(_cells(r)) for r in rows}
    return len(widths) == 1 and widths.pop() >= 2


def _cells(line: str) -> list[str]:
    """The cells of a '| a | b |' row; a pipe inside `inline code` or escaped ('\\|') is not a border."""
    inner = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    cells, cur = [], ""
    for m in re.finditer(r"`[^`\n]*`|\\\||\||[^`|\\]+|.", inner):
        if m.group() == "|":
            cells.append(cur)
            cur = ""
        else:
            cur += m.group()
    cells.append(cur)
    return [c.strip() for c in cells]


def _element_headings(lines: list[str]) -> list[str]:
    """Headings written as elements, outside code, as Markdown headings of their level: left to the tag
    rules, '<SectionTab as="h2">JSON mode</SectionTab>' became a line of text, the page lost its sections
    and one chunk mixed four of them (Mistral's limits page: its JSON-mode bullets were found by no
    question about JSON mode). A component with a `sectionId` and no level is an h2; an FAQ item's
    `question` attribute heads its answer as an h3."""
    out: list[str] = []
    code = code_lines(lines)
    i = 0
    while i < len(lines):
        item = None if code[i] else QUESTION_ITEM.match(lines[i])
        if item:  # the question heads its answer, which otherwise stood alone ('Yes, we support it.')
            out.append(f"### {item.group('q').strip()}")
            i += 1
            continue
        m = None if code[i] else HEADING_OPEN.match(lines[i])
        level = m and (m.group("h") or (HEADING_AS.search(m.group("attrs")) or [None, None])[1]
                       or ("2" if SECTION_ID.search(m.group("attrs")) else None))
        if not m or not level:
            out.append(lines[i])
            i += 1
            continue
        close = f"</{m.group('tag')}>"
        end = next((k for k in range(i, min(i + TAG_LINES, len(lines)))
                    if close in (m.group("rest") if k == i else lines[k]) and not code[k]), None)
        if end is None:
            out.append(lines[i])
            i += 1
            continue
        text = " ".join([m.group("rest")] + [x.strip() for x in lines[i + 1:end + 1]])
        title, _, after = text.partition(close)
        title = re.sub(r"\s+", " ", HTML_TAG.sub("", JSX_TAG.sub(lambda t: _jsx_text(t.group(0)), title))).strip()
        if not title or after.strip():
            out.append(lines[i])
            i += 1
            continue
        out.append(f"{'#' * int(level)} {title}")
        i = end + 1
    return out


def _jsx_text(tag: str) -> str:
    """Keep labels and titles that live in JSX attributes, drop the rest of the tag."""
    parts = re.findall(r'(?:label|title|text)=["\']([^"\']+)["\']', tag)
    return " ".join(parts)


def clean_rst(text: str, source: str) -> tuple[str, str, dict[str, Any], list[Removed], list[list[str]]]:
    """reStructuredText via docutils (ingest/rst.py), then the repeat rules of authored pages."""
    from ingest.rst import rst_to_markdown

    title, body, front, entries = rst_to_markdown(text, source)
    lines, removed = strip_boilerplate(body.splitlines(), dump=False)
    return title, re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip(), front, removed, entries


def clean_html(html: str) -> tuple[str, str, dict[str, Any], list[Removed]]:
    """Main content via trafilatura (scripts, nav, footers gone), headings kept as '#'."""
    import trafilatura

    text = trafilatura.extract(html, output_format="markdown", include_formatting=True, include_links=False,
                               include_comments=False, include_tables=True, favor_recall=True) or ""
    meta_obj = trafilatura.extract_metadata(html)
    front: dict[str, Any] = {}
    if meta_obj and meta_obj.description:
        front["description"] = meta_obj.description
    title = (meta_obj.title if meta_obj and meta_obj.title else "") or ""
    md_title, body, _, removed = clean_markdown(text, dump=True)
    return md_title or title, body, front, removed


def normalize_line(line: str) -> str:
    """Undo small capture accidents: 'Label:Text' glued, decorative bullet glyphs."""
    line = line.strip()
    line = GLUED_LABEL.sub(r"\1: ", line)
    return BULLET_GLYPH.sub(lambda m: m.group(1) or "- ", line)


def clean_text(text: str) -> tuple[str, str, dict[str, Any], list[Removed]]:
    """A text dump of a web page: chrome out, the first line is the title, short unpunctuated lines headings."""
    lines, removed = strip_boilerplate([normalize_line(line) for line in text.splitlines()], dump=True)
    while lines and not lines[0]:
        lines.pop(0)
    while len(lines) > 1 and (not lines[-1] or _heading_like(lines[-1])):
        if lines[-1]:  # a heading with nothing under it, left over from a dropped block
            removed.append(Removed(lines[-1], "empty heading at the end"))
        lines.pop()
    if not lines:
        return "", "", {}, removed
    title = lines[0]
    blocks = "" in lines  # blank lines separate paragraphs; without any, every line is one
    content = [line for line in lines if line]
    out = [f"# {title}", ""]
    pos = 0
    for line in lines[1:]:
        if not line:
            out.append("")
            continue
        pos = content.index(line, pos + 1)
        if is_text_heading(line, content[pos + 1:pos + 3]):
            out.extend(["", f"## {line}", ""])
        else:
            out.extend([line] if blocks or line.startswith(("- ", "* ")) else [line, ""])
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
    return title, body, {}, removed


def _heading_like(line: str) -> bool:
    if not line or len(line) > 80 or len(line.split()) > (12 if line.endswith("?") else 9):
        return False
    if line[-1] in ".,;:!\"'”" or line.startswith(("-", "*", "•")):
        return False
    return line[0].isupper() or line[0].isdigit()


def is_text_heading(line: str, following: list[str]) -> bool:
    """A short title-like line followed by a longer one (or by a sub-heading that is)."""
    if not _heading_like(line) or not following:
        return False
    nxt = following[0]
    if len(nxt) > len(line):
        return True
    return len(following) > 1 and _heading_like(nxt) and len(following[1]) > len(nxt)
