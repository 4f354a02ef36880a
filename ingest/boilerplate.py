"""Boilerplate in text dumps of web pages, found by general rules.

A saved web page carries the site around its text: navigation menus glued into
one line, breadcrumbs, sign-up banners and buttons, chat-widget chatter, cookie
notices, and blocks repeated within a page or across every page of a site.
None of these rules knows a particular site. Each looks at the shape of a line
(length, punctuation, capitalisation, a small vocabulary of marketing and widget
words) or at how often it repeats. A line that reads like a definition
("<term> is ...", "<term> are ...") is never removed by a shape rule, and of a
repeated line the first copy is kept, so cleaning cannot cost a definition.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ingest.fences import code_lines
from kb.text import DEFINITION_LINE, sentences


@dataclass(frozen=True)
class Removed:
    """One line cleaning dropped, and the rule that dropped it."""

    line: str
    reason: str


HEADING_LINE = re.compile(r"^\s*#{1,6}\s")
TABLE_ROW = re.compile(r"^\s*\|")
PRONOUNS = {"i", "we", "you", "it", "this", "that", "these", "those", "there", "they", "he", "she", "here",
            "what", "who", "how", "which", "where", "when", "why", "our", "your", "my"}

# Navigation: "Build a botDeploy a modelGet a GPU" (words glued at a lower->Upper seam),
# "Home / Guides / Models" (short segments between separators), "Home Docs Blog Pricing Login".
GLUE = re.compile(r"[a-z0-9)][A-Z][a-z]")
SENTENCE_PUNCT = re.compile(r"[.!?,;:](\s|$)")
NAV_SEPARATOR = re.compile(r"\s+[/|>›»·•]\s+")
FUNCTION_WORDS = {"a", "an", "the", "and", "or", "of", "to", "for", "in", "on", "with", "by", "vs", "is", "are",
                  "from", "at", "as", "into", "your", "how", "what", "why"}

# Calls to action: marketing phrases (strong), softer hints (weak), imperative openings.
CTA_STRONG = re.compile(
    r"free trial|start (?:your |a )?(?:free|trial)|try (?:it |us |\w+ )?(?:for )?free|no charge|no credit card"
    r"|no code required|no coding required|book a demo|request a demo|schedule a demo|get a demo|contact sales"
    r"|talk to sales|get started (?:for )?free|sign up (?:for )?free|create (?:a |your )?free account"
    r"|^ready to .*\?$|\bsubscribe to our\b|money[- ]back|cancel anytime",
    re.I,
)
CTA_WEAK = re.compile(r"into practice|in minutes|\btoday\b|\bfree\b|\bnow\b|\binstantly\b|[→»]\s*$|\bdemo\b"
                      r"|\btrial\b|\bpricing\b|sign[- ]?up|\bget started\b", re.I)
IMPERATIVE = {"start", "try", "get", "sign", "join", "book", "build", "deploy", "put", "create", "launch", "request",
              "schedule", "contact", "talk", "download", "subscribe", "claim", "unlock", "discover", "explore",
              "grab", "register", "upgrade", "see", "learn", "ready"}

# Buttons: a few words, no sentence, button vocabulary.
BUTTON = re.compile(
    r"^(?:sign (?:up|in)|log ?in|login|register|get started|learn more|read more|see more|show more|contact"
    r"(?: us| sales| support)?|book a demo|request a demo|try (?:it )?(?:now|free)|start (?:free )?trial"
    r"|subscribe|download|accept(?: all| cookies)?|reject(?: all)?|decline|manage (?:preferences|cookies|settings)"
    r"|send|submit|share|copy(?: link)?|menu|close|skip to (?:main )?content|back to top|next|previous"
    r"|toggle (?:navigation|menu|theme)|search|on this page|table of contents|edit (?:this|on) \w+)\W*$",
    re.I,
)

# Chat widgets: greetings, offers of help, "Powered by", timestamps and counters.
CHAT = re.compile(
    r"^(?:hi|hey|hello|welcome)\b[!,. ]|how can (?:i|we) help|powered by\b|^just now$|^\d+\s*(?:s|sec|min|m|h)"
    r"(?:ours?|inutes?)? ago$|^online(?: now)?$|^typing\W*$|type (?:a|your) (?:message|question)"
    r"|chat with (?:us|our)|ask (?:me|us) anything|instant (?:answers|replies)|^\d+ of \d+ questions?\b"
    r"|\btap (?:any|a|on)\b|\bclick (?:any|a|on) question|would respond|live chat|leave (?:us )?a message"
    r"|we(?:'re| are) (?:online|here to help)|virtual assistant here",
    re.I,
)
COOKIE = re.compile(r"\bcookies?\b.*\b(?:accept|consent|agree|privacy|experience|preferences)\b"
                    r"|\b(?:we|this (?:site|website)) uses? cookies\b", re.I)


def line_key(line: str) -> str:
    return " ".join(line.lower().split())


def is_definition(line: str) -> bool:
    """A sentence of the line reads '<term> is/are ...' (the subject not a pronoun)."""
    for sent in sentences(line):
        m = DEFINITION_LINE.match(sent)
        if m and m.group(1).lower().strip("'\"“") not in PRONOUNS:
            return True
    return False


def nav_reason(line: str) -> str | None:
    text = line.strip()
    words = text.split()
    if len(GLUE.findall(text)) >= 3 and not SENTENCE_PUNCT.search(text):
        return "navigation menu (words run together)"
    segments = NAV_SEPARATOR.split(text)
    if len(segments) >= 3 and all(0 < len(s.split()) <= 4 and not SENTENCE_PUNCT.search(s) for s in segments):
        return "breadcrumb / menu"
    if (len(words) >= 6 and not SENTENCE_PUNCT.search(text)
            and sum(w[0].isupper() or w[0].isdigit() for w in words) >= 0.9 * len(words)
            and not any(w.lower() in FUNCTION_WORDS for w in words)):
        return "navigation menu (title-case run)"
    return None


def cta_score(line: str) -> int:
    words = line.split()
    score = 3 * bool(CTA_STRONG.search(line.strip())) + len(CTA_WEAK.findall(line))
    if words and words[0].lower().strip("*_") in IMPERATIVE:
        score += 1
    if len(words) <= 14:
        score += 1
    return score


def shape_reason(line: str) -> str | None:
    """Why a single line is site chrome rather than page content, or None."""
    text = line.strip()
    words = text.split()
    if not words:
        return None
    reason = nav_reason(text)
    if reason:
        return reason
    if len(words) <= 40 and COOKIE.search(text):
        return "cookie banner"
    if len(words) <= 15 and CHAT.search(text):
        return "chat widget"
    if len(words) <= 4 and BUTTON.match(text.strip("-*•→» ")):
        return "button"
    if len(words) <= 20 and cta_score(text) >= 4:
        return "call to action"
    return None


def _eligible(lines: list[str]) -> list[int]:
    """Indexes of lines rules may look at: not blank, not a heading, table row or code."""
    out = []
    for i, (line, code) in enumerate(zip(lines, code_lines(lines), strict=True)):
        if code or not line.strip() or HEADING_LINE.match(line) or TABLE_ROW.match(line):
            continue
        out.append(i)
    return out


def strip_boilerplate(lines: list[str], *, dump: bool) -> tuple[list[str], list[Removed]]:
    """Drop chrome lines from one page.

    `dump` (a text dump or extracted HTML) turns on the shape rules; authored
    Markdown only loses long paragraphs repeated within the page.
    """
    eligible = _eligible(lines)
    reasons: dict[int, str] = {}
    if dump:
        for i in eligible:
            if not is_definition(lines[i]):
                reason = shape_reason(lines[i])
                if reason:
                    reasons[i] = reason
        # A short heading-like line that introduces a call to action belongs to it ("Build Your Agent").
        for pos, i in enumerate(eligible[:-1]):
            nxt = eligible[pos + 1]
            line = lines[i].strip()
            if (i not in reasons and reasons.get(nxt) == "call to action" and len(line.split()) <= 8
                    and line[-1] not in ".!?,;:" and cta_score(line) >= 2):
                reasons[i] = "call to action"
    _repeats(lines, [i for i in eligible if i not in reasons], reasons, dump)
    kept = [line for i, line in enumerate(lines) if i not in reasons]
    return kept, [Removed(lines[i].strip(), reasons[i]) for i in sorted(reasons)]


def _repeats(lines: list[str], idx: list[int], reasons: dict[int, str], dump: bool) -> None:
    """Of a line repeated within a page keep the first copy; short chrome repeated 3+ times goes entirely."""
    counts = Counter(line_key(lines[i]) for i in idx)
    seen: set[str] = set()
    first = idx[0] if idx else -1
    for i in idx:
        key = line_key(lines[i])
        n_words = len(key.split())
        if not dump and n_words < 8:
            continue
        if dump and counts[key] >= 3 and n_words <= 3 and not SENTENCE_PUNCT.search(key) and i != first:
            reasons[i] = "repeated within the page (widget or chrome)"
        elif key in seen:
            reasons[i] = "repeated within the page"
        seen.add(key)


def repeated_across_pages(texts: Mapping[str, str], min_pages: int = 3, max_words: int = 12) -> set[str]:
    """Short lines (not headings, not definitions) found on `min_pages` or more pages of one run."""
    pages_with: Counter[str] = Counter()
    for text in texts.values():
        lines = text.splitlines()
        keys = {line_key(lines[i]) for i in _eligible(lines) if len(lines[i].split()) <= max_words}
        pages_with.update(keys)
    return {k for k, n in pages_with.items() if n >= min_pages and not is_definition(k)}


def drop_lines(text: str, keys: Iterable[str], reason: str) -> tuple[str, list[Removed]]:
    keys = set(keys)
    if not keys:
        return text, []
    lines = text.splitlines()
    drop = {i for i in _eligible(lines) if line_key(lines[i]) in keys}
    if not drop:
        return text, []
    kept = "\n".join(line for i, line in enumerate(lines) if i not in drop)
    return re.sub(r"\n{3,}", "\n\n", kept).strip(), [Removed(lines[i].strip(), reason) for i in sorted(drop)]
