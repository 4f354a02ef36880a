"""Render an Answer as a Slack message: mrkdwn text and Block Kit blocks.

The bot only renders `kb.types.Answer`; it never rewrites what kb answered.
Layout: the answer with its [n] marks; numbered sources (title, section, a link
when the page came from a URL, the supporting quote); a context line with the
model and the time it took; helpful / not-helpful buttons.
"""

from __future__ import annotations

import os
from typing import Any

from kb.render import printable
from kb.text import is_url
from kb.types import Answer, Citation

FEEDBACK_HELPFUL = "kb_feedback_helpful"
FEEDBACK_UNHELPFUL = "kb_feedback_unhelpful"
FEEDBACK_ACTIONS = (FEEDBACK_HELPFUL, FEEDBACK_UNHELPFUL)
SECTION_LIMIT = 3000  # Slack's limit for a section block's text
QUOTE_LIMIT = 280

PLACEHOLDER = ":hourglass_flowing_sand: Looking that up in the knowledge base…"
APOLOGY = (":warning: Sorry, something went wrong while answering. The error is logged for the kb admins; "
           "please try again in a little while.")
HELP = (
    "*kb* answers questions from the team's glossary and guides, and shows where each answer comes from.\n"
    "• Mention me in a channel: `@kb what is a base model?` I answer in the thread.\n"
    "• Or send me a direct message, or open me in Slack's assistant panel.\n"
    "• `/kb QUESTION` gives an answer only you can see; `/kb help` shows this.\n"
    "Each answer has *Helpful* / *Not helpful* buttons: answers marked not helpful become test questions "
    "for kb. When the knowledge base does not cover a question, I say so and name the closest topics."
)

GREETING = ("Hi! Ask me about the team's glossary and guides. I answer only from those pages, number my "
            "sources and quote the sentence behind each claim; when the pages do not cover something, I say so.")
PROMPTS_TITLE = "People often ask:"


def escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters: escaped, page text can never form a link,
    a mention (`<@U..>`) or a special command (`<!channel>`, `<!here>`, `<!subteam^..>`). Terminal
    escapes and other control characters a page may hold are dropped too."""
    return printable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link_url(url: str) -> str:
    """A URL safe inside `<url|label>`: characters Slack reads as link syntax (| < >), spaces and
    controls are percent-encoded, then & is escaped, so nothing in it can end the link early."""
    from urllib.parse import quote

    return escape(quote(url, safe=":/?#[]@!$&'()*+,;=%~"))


def link_label(text: str) -> str:
    """A link label: no |, < or > (they would end the link), & escaped."""
    return escape(" ".join(text.split())).replace("|", "¦")


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def placeholder(ahead: int = 0) -> str:
    if ahead <= 0:
        return PLACEHOLDER
    return f"{PLACEHOLDER} ({ahead} question{'s' if ahead != 1 else ''} ahead of yours)"


def status(ahead: int = 0) -> str:
    """The assistant panel's status line (Slack shows it after the app's name)."""
    return "is looking it up…" if ahead <= 0 else f"is answering {ahead} question{'s' if ahead != 1 else ''} first…"


def reading(titles: list[str]) -> str:
    """The placeholder once passages are found: what kb is reading while the model writes."""
    names = ", ".join(f"*{escape(clip(t, 80))}*" for t in titles[:3]) + (" and more" if len(titles) > 3 else "")
    return f":mag: Reading {names}; writing the answer…"


def reading_status(titles: list[str]) -> str:
    names = ", ".join(clip(t, 60) for t in titles[:2])
    return clip(f"is reading {names}…", 120)


def quoted(quotes: list[str], titles: list[str]) -> str:
    """Before the model writes: the source sentences kb picked, verbatim (numbers come with the answer)."""
    lines = [f">{escape(clip(q, QUOTE_LIMIT))}" for q in quotes[:4]]
    where = ", ".join(f"*{escape(clip(t, 80))}*" for t in titles[:2])
    return f"From {where}:\n" + "\n".join(lines) + "\n_:pencil: writing a summary and checking it against these…_"


def partial(verified: list[str]) -> str:
    """The answer so far: draft sentences that passed verification; citations come with the final edit."""
    body = escape(clip(" ".join(verified), SECTION_LIMIT - 100))
    return f"{body}\n_:pencil: checking the rest against the sources…_"


def source_line(c: Citation) -> str:
    """`*[1]* <url|Title> — Section` then the quote. The link is the page's URL (front matter, fetched
    URL or source_urls: kb/links.py); a file without one shows its name, not the server's path."""
    title = escape(c.title or c.source)
    section = f" — {escape(c.section)}" if c.section and c.section != c.title else ""
    url = c.url if is_url(c.url) else c.source if is_url(c.source) else ""
    if url:
        label = link_label((c.title or url).replace(">", "›").replace("<", "‹"))
        head = f"*[{c.id}]* <{link_url(url)}|{label}>{section}"
    else:
        head = f"*[{c.id}]* {title}{section} · `{escape(os.path.basename(c.source) or c.source)}`"
    quote = clip(c.quote, QUOTE_LIMIT)
    return f"{head}\n>{escape(quote)}" if quote else head


def context_line(answer: Answer) -> str:
    parts = [escape(answer.model)]
    total = answer.timings.get("total_s")
    if total is not None:
        parts.append(f"{total:.1f} s")
    if answer.mode == "quoted":
        parts.append("quoted from the sources")
    if answer.follow_up_of and answer.standalone and answer.standalone != answer.question:
        parts.append(f"follow-up, read as \u201c{escape(clip(answer.standalone, 200))}\u201d")
    return " · ".join(parts)


def answer_text(answer: Answer) -> str:
    """The plain fallback text (notifications, screen readers, clients without blocks)."""
    if answer.refused:
        return refusal_text(answer)
    return escape(clip(answer.answer, SECTION_LIMIT))


def refusal_text(answer: Answer) -> str:
    text = ":grey_question: The knowledge base does not cover this, so I won't guess."
    if answer.closest_topics:
        text += " Closest topics it does cover: " + ", ".join(f"*{escape(t)}*" for t in answer.closest_topics) + "."
    return text


def feedback_buttons(answer_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "kb_feedback",
        "elements": [
            {"type": "button", "action_id": FEEDBACK_HELPFUL, "value": answer_id,
             "text": {"type": "plain_text", "text": ":thumbsup: Helpful", "emoji": True}},
            {"type": "button", "action_id": FEEDBACK_UNHELPFUL, "value": answer_id,
             "text": {"type": "plain_text", "text": ":thumbsdown: Not helpful", "emoji": True}},
        ],
    }


def answer_blocks(answer: Answer, answer_id: str | None = None) -> list[dict[str, Any]]:
    """Block Kit blocks for one answer; `answer_id` adds the feedback buttons."""
    body = refusal_text(answer) if answer.refused else escape(clip(answer.answer, SECTION_LIMIT - 20))
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": body}}]
    if answer.citations:
        lines = ["*Sources*"] + [source_line(c) for c in answer.citations]
        text = "\n".join(lines)
        if len(text) > SECTION_LIMIT:
            text = text[: SECTION_LIMIT - 1] + "…"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context_line(answer)}]})
    if answer_id:
        blocks.append(feedback_buttons(answer_id))
    return blocks


def simple_blocks(text: str) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
