"""Which term a glossary page defines, and the other names it gives that term.

kb's retrieval routes "what is X" questions to the page whose `term` or
`aliases` match X, so a page about one term says so in its chunk metadata.
A page is taken to be about one term when its front matter says `term:`, when
its title asks "What is X?", or when its title is a short name ("X", "X (Y)")
that one of the first sentences defines ("An X is ...", "Xs, also called Y, are ...").
Guides ("Choosing the right model") define nothing by their title and get no term.
"""

from __future__ import annotations

import re
from typing import Any

from kb.text import ARTICLE, DEFINES_AFTER_TERM, sentences
from kb.text import glossary_key as _key

WHAT_IS = re.compile(r"^\s*what\s+(?:is|are)\s+(?:an?\s+|the\s+)?(.+?)\s*\??\s*$", re.I)
WITH_PAREN = re.compile(r"^(.+?)\s*\(([^()]{1,60})\)\s*$")
H1 = re.compile(r"^#\s+(.+?)\s*$", re.M)
GUIDE_TITLE = re.compile(r"^(?:how|why|when|where|which|getting started|introduction|overview|guide|tutorial)\b"
                         r"|^\w+ing\s+(?:a|an|the|your|our|my|this|these|with|to|for|from|and)\b", re.I)
ALIAS_PHRASE = re.compile(
    r"\b(?:also|sometimes|often|commonly)\s+(?:called|known\s+as|referred\s+to\s+as|named|abbreviated(?:\s+as)?)"
    r"\s+(.+?)(?=[).;:!?]|,\s*(?:is|are|was|were|and|which|that)\b|\s+(?:is|are)\s|,\s+[a-z]+s\b|$)"
    r"|\ba\.?k\.?a\.?\s+(.+?)(?=[).;:,!?]|$)",
    re.I,
)
LABEL = re.compile(r"^\s*(?:quick\s+)?(?:definition|summary|tl;?dr|in\s+short)\s*:\s*", re.I)
MAX_TERM_WORDS = 6
EARLY_SENTENCES = 6


def term_metadata(title: str, front: dict[str, Any], text: str) -> dict[str, str]:
    """{'term': ..., 'aliases': 'a, b'} for a page about one term, else {}.

    The page's first '# ' heading is tried as a title too ("Tokenizer" under a
    front-matter title "Tokenizer and tokens").
    """
    term = str(front.get("term") or "").strip()
    aliases: list[str] = _as_list(front.get("aliases")) + _as_list(front.get("alias"))
    early = _early_sentences(text)
    h1 = next((m.group(1) for m in H1.finditer(text)), "")
    for candidate in (title, h1):
        if term or not candidate:
            break
        term, title_alias = _term_from_title(candidate, early)
        aliases += title_alias
    if not term:
        return {}
    for sent in early:
        if _mentions(sent, term) or any(_mentions(sent, a) for a in aliases):
            aliases += _aliases_in(sent)
    out = {"term": term}
    uniq = _unique([a for a in aliases if _key(a) != _key(term)])
    if uniq:
        out["aliases"] = ", ".join(uniq)
    return out


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


def _early_sentences(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [LABEL.sub("", s) for s in sentences(body)[:EARLY_SENTENCES]]


def _term_from_title(title: str, early: list[str]) -> tuple[str, list[str]]:
    title = " ".join(title.split()).strip()
    m = WHAT_IS.match(title)
    if m:
        name, alias = _split_paren(m.group(1))
        return name, alias
    if (not title or len(title.split()) > MAX_TERM_WORDS + 6 or re.search(r"[.!?:;]$", title)
            or GUIDE_TITLE.match(title)):
        return "", []
    name, alias = _split_paren(title)
    if len(name.split()) > MAX_TERM_WORDS:
        return "", []
    if any(_defines(s, name) or any(_defines(s, a) for a in alias) for s in early):
        return name, alias
    return "", []


def _split_paren(title: str) -> tuple[str, list[str]]:
    m = WITH_PAREN.match(title)
    if m and len(m.group(2).split()) <= MAX_TERM_WORDS:
        return m.group(1).strip(), [m.group(2).strip()]
    return title.strip(), []


def _mentions(sentence: str, name: str) -> bool:
    key = _key(name)
    return bool(key) and f" {key} " in f" {_key(sentence)} "


def _defines(sentence: str, name: str) -> bool:
    """The sentence opens with the name (article, plural allowed) and then says what it is."""
    words = _key(name).split()
    if not words:
        return False
    opening = r"^\W*(?:(?:an?|the)\s+)?" + r"[\s-]+".join(re.escape(w) + r"(?:s|es)?" for w in words) + r"\b(.*)$"
    m = re.match(opening, sentence.strip(), re.I | re.S)
    return bool(m and DEFINES_AFTER_TERM.match(m.group(1)))


def _aliases_in(sentence: str) -> list[str]:
    out: list[str] = []
    for m in ALIAS_PHRASE.finditer(sentence):
        phrase = (m.group(1) or m.group(2) or "").strip()
        for part in re.split(r",\s*(?:or\s+|and\s+)?|\s+or\s+|\s+and\s+", phrase):
            part = ARTICLE.sub("", part.strip(" \"'“”*_")).strip()
            if part and len(part.split()) <= MAX_TERM_WORDS and not re.search(r"[.;:!?]", part):
                out.append(part)
    return out


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = _key(item)
        if key and key not in seen:
            seen.add(key)
            out.append(item)
    return out


# -- multi-term glossary pages ------------------------------------------------------------
# One page, many entries (a Markdown "Glossary" with a heading, a bold term or a definition-list
# term per entry). Each entry becomes a term record: chunking tags the chunk that holds it
# (`entries` metadata, ingest/chunk.py) and retrieval routes "what is X" to that chunk. Only a
# page whose title or first heading says it is a glossary qualifies: a tutorial whose sections
# are named after terms ("Chat templates", "Applying the template") defines none of them, and
# tagging its sections would route term questions to steps of a walkthrough.

GLOSSARY_PAGE = re.compile(r"\b(?:glossary|glossaries|terminology|terms\s+and\s+definitions)\b", re.I)
MD_HEADING = re.compile(r"^(#{2,6})\s+(.+?)\s*#*\s*$")
BOLD_TERM = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*|__)([^*_\n]{1,80}?)(?:\*\*|__)"
                       r"\s*(?::\s*|\s+[-\u2013\u2014]\s+|:?\s*$)(.*)$")
DEF_LIST_ITEM = re.compile(r"^:\s+(\S.*)$")
ENTRY_WORDS = 8  # an entry's name is a term, not a sentence
MIN_ENTRIES = 3  # fewer is a page that happens to have a "Glossary" section, not a glossary


def is_glossary_page(title: str, text: str) -> bool:
    h1 = next((m.group(1) for m in H1.finditer(text)), "")
    return bool(GLOSSARY_PAGE.search(title) or GLOSSARY_PAGE.search(h1))


def markdown_glossary(title: str, raw: str, text: str) -> tuple[str, list[list[str]]]:
    """(text, entries) of a Markdown glossary page; (text, []) for any other page.

    `raw` is the Markdown before cleaning (bold marks still there), `text` the cleaned page.
    Entries come from the layout the page uses:
    - headings: the most common heading level below the title, when at least MIN_ENTRIES
      headings of that level are short names ('### Block (KV Block)'); a definition-list or
      bold-term layout wins when it has more entries;
    - bold-term paragraphs ('**Term**: definition', '- **Term** - definition') and definition
      lists ('Term' then ': definition'): rewritten as 'Term: definition' lines, the shape
      chunking tags (ingest/chunk.py) and a quote reads well in.
    Each entry is [shown name, name, other names...]: 'Block (KV Block)' gives 'Block' and 'KV Block'.
    """
    if not is_glossary_page(title, text):
        return text, []
    heads = _heading_entries(text)
    lines, inline = _inline_entries(raw, text)
    if len(inline) >= max(MIN_ENTRIES, len(heads)):
        return lines, inline
    return text, heads


def _heading_entries(text: str) -> list[list[str]]:
    found = [(len(m.group(1)), m.group(2)) for m in map(MD_HEADING.match, _prose_lines(text)) if m]
    levels = [lvl for lvl, name in found if _entry_name(name)]
    if not levels:
        return []
    level = max(set(levels), key=levels.count)
    names = [name for lvl, name in found if lvl == level and _entry_name(name)]
    return [entry_names(n) for n in names] if len(names) >= MIN_ENTRIES else []


def _inline_entries(raw: str, text: str) -> tuple[str, list[list[str]]]:
    """Bold-term and definition-list entries, the cleaned text rewritten to 'Term: definition' lines."""
    bold = {}
    for line in _prose_lines(raw):
        m = BOLD_TERM.match(line)
        if m and _entry_name(m.group(1)) and m.group(2).strip():
            bold[" ".join(m.group(1).split()).strip(" :")] = True
    out: list[str] = []
    entries: list[list[str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = next((x for x in lines[i + 1:i + 3] if x.strip()), "")
        d = DEF_LIST_ITEM.match(nxt.strip())
        if d and _entry_name(line.strip()) and not MD_HEADING.match(line):
            name = line.strip()
            defs = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or DEF_LIST_ITEM.match(lines[i].strip())):
                m = DEF_LIST_ITEM.match(lines[i].strip())
                if m:
                    defs.append(m.group(1))
                i += 1
            entries.append(entry_names(name))
            out += [f"{name}: {' '.join(defs)}", ""]
            continue
        stripped = re.sub(r"^\s*[-*+]\s+", "", line)
        for name in bold:
            if stripped.startswith(name):
                rest = stripped[len(name):]
                m = re.match(r"^\s*(?::\s*|[-\u2013\u2014]\s+)(\S.*)$", rest)
                if m:
                    entries.append(entry_names(name))
                    line = f"{name}: {m.group(1)}"
                    break
        out.append(line)
        i += 1
    return "\n".join(out), entries


def _prose_lines(text: str) -> list[str]:
    out, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        elif not fence:
            out.append(line)
    return out


def _entry_name(name: str) -> bool:
    """A term, not a sentence or a step: few words, no sentence end, not a question or a guide title."""
    name = name.strip()
    bare = re.sub(r"\([^()]*\)", "", name).strip()
    return (bool(bare) and len(bare.split()) <= ENTRY_WORDS and not re.search(r"[.!?;]$|:$", name)
            and not GUIDE_TITLE.match(bare) and not GLOSSARY_PAGE.search(bare))


def entry_names(shown: str) -> list[str]:
    """[shown, name, other names...]: 'E2E (End-to-End Latency)' -> E2E, End-to-End Latency."""
    shown = shown.strip()
    name, alias = _split_paren(" ".join(shown.split()))
    names = [n.strip(" `*_") for n in (name, *alias)]
    return [shown] + list(dict.fromkeys(n for n in names if n))
