"""The junk-quote rule, defined once: a source sentence that must never be quoted as an answer.

A quote is read without its page around it, so it has to stand on its own as prose.
Real documentation pages gave quotes that do not: lead-ins whose list or table was not
quoted with them ("We can see an example below:"), pointers to what a quote cannot show
("in the image below", "For a more detailed reading, we recommend ..."), and markup that
reads as noise outside its page (blockquote marks, table pipes, LaTeX, doc-link syntax,
template tags, code fences, chat-template tokens, HTML entities, lines of code).

`junk_reason` is used where quotable sentences are chosen (kb/passages.py) and by the
eval's junk-quote rate (eval/metrics.py), so what is never quoted and what is counted
as junk cannot drift apart. ingest/clean.py removes the same markup from pages where
it can (doc links, template tags, HTML entities, markdown tables as rows), so most of
it never reaches a chunk at all.
"""

from __future__ import annotations

import re

from kb.render import CONTROLS

INLINE_CODE = re.compile(r"`[^`\n]+`")  # `model.generate()` is content the page shows; what is in it is not markup

# A lead-in announces what follows; quoted without it, it answers nothing. A lead-in quoted
# with its list ends with the list's last item, so it never matches.
LEAD_IN = re.compile(r"(?::|\b(?:as follows|the following|(?<!\bor )(?<!\band )below|like this"
                     r"|(?:shown|listed|given) here)\s*[.:]?)\s*$", re.I)  # not '... at 4-bit or below.'

FILLER = [re.compile(p, re.I) for p in (
    r"\b(?:image|figure|diagram|picture|screenshot|illustration|chart|graph|video|animation|plot|table|simulator|"
    r"widget|demo|playground|example|snippet|code|command|output|cell|visuali[sz]er|calculator|tool)s?\s+"
    r"(?:below|above)\b",
    r"\b(?:below|above|following|next)\s+(?:image|figure|diagram|picture|screenshot|illustration|chart|video|plot)s?\b",
    r"\bin (?:the|this) (?:image|figure|diagram|picture|screenshot|illustration|video|animation)\b",
    r"\b(?:see|check out|take a look at|refer to) (?:the |this )?(?:figure|image|diagram|fig\.|screenshot|video)\b",
    r"\bfor (?:a |an )?(?:more )?(?:detailed|deeper|in-depth|thorough|further|complete)\b.{0,60}?"
    r"\b(?:read|reading|look|dive|explanation|overview|discussion|understanding|treatment|guide)\b",
    r"\bwe (?:highly |strongly )?(?:recommend|suggest|encourage you to)\b.{0,40}?\b(?:read|reading|check|checking|"
    r"look|looking|review|reviewing|dive|diving|visit|visiting|go through)\b",
    r"\b(?:click|tap) (?:here|on|the (?:button|link))\b",
    r"\blet'?s (?:first |now |quickly )?(?:take a look|have a look|dive|see|look)\b",
    r"\bin (?:this|the next|the previous|the following) (?:section|chapter|unit|lesson|tutorial|post|blog post|"
    r"article|notebook|video),? (?:we|you)(?:'ll| will| are going to| learn)\b",
    r"\bvisit (?:this|the following) (?:page|link)\b",
    # what the page goes on to do: 'Below, we describe how to use this feature.'
    r"^\s*(?:below|in what follows|in the rest of this (?:page|guide|section|post)),? (?:we|you)(?:'ll| will)? "
    r"(?:describe|show|explain|walk|cover|discuss|see|look|learn|go)\b",
    # how to work a page's interactive figure: 'Switch between a peaky and a flat distribution, and notice how ...'
    r"^\s*(?:switch between|toggle|drag|hover over|move the slider)\b.{0,160}?\b(?:notice|watch|observe) how\b",
    # a bare pointer: the whole sentence names where the answer is ('See Latency Models Guide.'), not the answer
    r"^\s*(?:(?:tip|note|info|hint):\s+)?(?:see(?: also)?|refer to|read|check out|learn more(?: about| in)?|"
    r"more (?:on|about) (?:this|that) in|"
    r"for (?:more )?(?:details|information|more)(?: on [^,.]{1,40})?,? see)\s+(?:\S+\s+){0,6}\S+[.!]?\s*$",
    # a pointer however long its target's name: 'See the "All About Configs" deep-dive for more information.',
    # 'For an extended discussion on X, see Y.'
    r"^\s*(?:see(?: also)?|refer to|check out|read)\s+(?!how|what|why|that|if|whether|when)[^:;]{1,100}?"
    r"\bfor (?:(?:more|further|additional)\s+(?:details|information|info|examples)|the (?:current |full |complete )?"
    r"list)\b[^.;:]{0,60}[.!]?\s*$",
    r"^\s*for (?:an? )?(?:more |extended |detailed |deeper |further |complete )?(?:discussion|details|information|"
    r"explanation|overview)\b[^.;]{0,80}?,\s*(?:see|refer to|check out|read)\b",
)]
# Further reading: a title whose only content is its link ('Scaling Routers (https://example.org/abs/1)'),
# or a row of links ('Docs: https://... Forum: https://...'). The reader needs the answer, not a bibliography.
REFERENCE = re.compile(r"^[^.!?()]{1,200}\(<?https?://[^)\s]+>?\)[.\s]*$")
URL = re.compile(r"https?://\S+")

MARKUP = [(re.compile(p, re.M), why) for p, why in (
    (r"^\s*>", "a blockquote mark"),
    (r"(?:^|\s)\|(?=\s)|\|\s*:?-{3,}|^\s*\|", "table pipes"),
    (r"^\s*\+[-=]{3,}", "a table border"),
    (r"```|~~~", "a code fence"),
    (r"\$\$|\\[(\[]|\\(?:mathbb|mathcal|mathrm|mathbf|frac|sum|prod|int|text|left|right|cdot|times|log|exp|"
     r"alpha|beta|gamma|theta|sigma|lambda|nabla|partial|leq|geq|approx|sqrt|hat|bar|top)\b"
     r"|\$[^$\n]*[\\_^{][^$\n]*\$", "LaTeX"),
    (r"\{\{.*?\}\}|\{%.*?%\}", "a template tag"),
    (r"&(?:gt|lt|amp|quot|apos|nbsp|#\d+|#x[0-9a-f]+);", "an HTML entity"),
    (r"\]\(|\[\[|\]\]", "link syntax"),
    (r"\[\^[^\]\s]+\]", "a footnote mark"),
    (r"\{[\w:-]+\}`|(?:^|\s):[\w:-]+:`", "a Sphinx/MyST role"),
    (r"\\n", "an escaped newline"),
    (CONTROLS.pattern, "a control character"),  # a parser's escape byte (docutils' NUL); kb/render.py's set
)]
DOC_LINK = re.compile(r"\[`[^`\]]+`\]")  # [`SFTTrainer`]: a docs site's cross-reference, unrendered
CODE_LINE = re.compile(r"^\s*(?:from\s+[\w.]+\s+import\b|import\s+[\w.]+\s*$|def\s+\w+\(|class\s+\w+[(:]|"
                       r"[\w.\[\]'\"]+\s*[+\-*/]?=\s*[\w\[{(\"'])|^\s*[$#]\s+\w", re.M)
CHAT_TOKEN = re.compile(r"<\|[\w-]+\|>|</?s>|\[/?INST\]|<(?:start|end)_of_turn>")
QUOTED = re.compile(r"\"[^\"\n]*\"|\u201c[^\u201d\n]*\u201d")
TALKS_ABOUT_TOKENS = re.compile(r"\b(?:tokens?|tags?)\b", re.I)  # a sentence about "[INST]" tags is content
CODE_CHARS = re.compile(r"[{}\[\]=;<>\\|$]")
# A table row as ingest writes it (ingest/clean.py markdown_tables, ingest/rst.py): 'Header: cell; Header: cell'.
# Its '; ' separators are the row's punctuation, not code: counted as code, rows holding a table's numbers
# ('Format: INT4; Size vs FP32: 12.5%; ...') were never quotable while shorter rows of the same table were.
TABLE_CELL = re.compile(r"(?:^|; )[^;:]{1,60}: ")


FENCE = re.compile(r"^\s*(```|~~~)")


def without_code(text: str) -> str:
    """A passage without its fenced code blocks: code is retrieved (it answers "how do I run X") but
    never quoted. A chunk cut inside a long block starts with its rest, closed by a bare fence."""
    lines = text.splitlines()
    fences = [i for i, line in enumerate(lines) if FENCE.match(line)]
    inside = bool(fences) and len(fences) % 2 == 1 and lines[fences[0]].strip() in ("```", "~~~")
    out = []
    for line in lines:
        if FENCE.match(line):
            inside = not inside
            out.append("")
        elif not inside:
            out.append(line)
    return "\n".join(out)


def junk_reason(text: str) -> str:
    """Why this source sentence (or lead-in with its list) must not be quoted; '' when it may be."""
    if DOC_LINK.search(text):
        return "doc-link syntax"
    prose = INLINE_CODE.sub("`code`", text)
    for pattern, why in MARKUP:
        if pattern.search(prose):
            return why
    if CHAT_TOKEN.search(QUOTED.sub('"quoted"', prose)) and not TALKS_ABOUT_TOKENS.search(prose):
        return "a chat-template token"
    row = prose.replace("; ", " ") if len(TABLE_CELL.findall(prose)) >= 2 else prose
    if CODE_LINE.search(prose) or len(CODE_CHARS.findall(row)) >= max(4, len(row) // 25):
        return "code"
    if LEAD_IN.search(text):
        return "a lead-in without what it leads into"
    # a sentence that only asks answers nothing: 'Why does goodput matter?'
    if "\n" not in text and text.rstrip(" \"'\u201d)").endswith("?"):
        return "a question"
    if any(p.search(prose) for p in FILLER):
        return "filler"
    return _links_only(text)


def _links_only(text: str) -> str:
    """A reference to read elsewhere: a title followed only by its link, or a row mostly made of links."""
    text = text.strip()
    if REFERENCE.match(text):
        return "a link to read elsewhere"
    urls = URL.findall(text)
    if len(urls) >= 2 and sum(map(len, urls)) > len(text) / 2:
        return "a list of links"
    return ""


def is_junk(text: str) -> bool:
    return bool(junk_reason(text))
