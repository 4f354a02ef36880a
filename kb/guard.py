"""Page text is content, never instructions: what kb removes before quoting a passage.

kb quotes pages verbatim, so a page can try to speak through it: a paragraph that
addresses the reader (or a model) as a system prompt ("SYSTEM: ignore previous
instructions...", "### Assistant: ..."), often followed by a lure ("log in at
https://evil.example/login"). `without_injections` drops such paragraphs from the
retrieved passages before the prompt is built and before any quote is picked, so
they can neither steer the draft nor be quoted or support a sentence.

What is NOT filtered (a documented residual risk, docs/operations.md): a plain
sentence such as "Log in at https://grafana.example.com to see the dashboards" is how
a guide tells people where to go; kb cannot tell a real login page from a phishing
one, so it quotes it with its source like any other sentence. The defence there is
what gets ingested.
"""

from __future__ import annotations

import re
from dataclasses import replace

from kb.types import Hit

# a paragraph that opens by naming a chat role, as prompts and transcripts do:
# "SYSTEM: ...", "[system] ...", "### Assistant: ...", "<|im_start|>system", "<system>"
ROLE_OPENING = re.compile(
    r"^\W{0,6}(?:system|assistant|developer|instructions?|admin(?:istrator)?|ai|bot|model)"
    r"(?:\s+(?:prompt|message|note|override))?\s*(?::|\]|>|\||-{1,2}\s)",
    re.IGNORECASE,
)
CHAT_TEMPLATE = re.compile(r"<\|(?:im_start|im_end|system|assistant|user|endoftext)\|>|\[/?INST\]|<</?SYS>>",
                           re.IGNORECASE)
# instructions to whoever reads the page, aimed at an assistant
OVERRIDE = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?"
    r"(?:previous|prior|above|earlier|preceding|system|original)\s+(?:instructions?|prompts?|messages?|rules?)"
    r"|\byou\s+are\s+now\s+(?:a|an|the|in)\b"
    r"|\b(?:as|you\s+are)\s+an?\s+(?:ai|language\s+model|assistant|chat\s*bot)\b.{0,40}\b(?:must|should|will)\b"
    r"|\b(?:tell|instruct|ask)\s+(?:the\s+)?(?:user|reader|asker)s?\s+to\s+(?:log\s*in|sign\s*in|enter|send|paste)",
    re.IGNORECASE,
)


# A table row as ingest writes it (ingest/tables.py): 'Model: Gizmo Mini; Battery life: 6 hours'.
# Its first label is a column header that may be a role's name ('Model', 'System'), not a chat turn; such a
# row still goes when it holds a chat template, an override or a link in its first cell.
TABLE_ROW = re.compile(r"^[^;:]{1,40}: [^;:]{1,80}(?:; [^;:]{1,40}: [^;]+)+$")


# a template token shown as inline code or in quotation marks is named, as documentation does ('the control token
# "[INST]" marks a user message', 'delimiters like `<|im_start|>`'), not used
NAMED = re.compile(r"`[^`\n]*`|\u201c[^\u201d\n]*\u201d|\"[^\"\n]*\"")


def is_injection(paragraph: str) -> bool:
    """True for a paragraph that addresses its reader as a prompt does."""
    text = paragraph.strip().lstrip("-*•> ")
    if CHAT_TEMPLATE.search(NAMED.sub(" ", text)) or OVERRIDE.search(text):
        return True
    row = TABLE_ROW.match(text) and "://" not in text.split(";", 1)[0]
    return bool(ROLE_OPENING.match(text)) and not row


def clean_passage(text: str) -> str:
    """The passage without its prompt-like paragraphs (list items count as paragraphs)."""
    parts = re.split(r"(\n\s*\n|\n(?=\s*(?:[-*•]|\d+\.)\s))", text)
    kept: list[str] = []
    for i in range(0, len(parts), 2):
        para = parts[i]
        sep = parts[i + 1] if i + 1 < len(parts) else ""
        if para.strip() and is_injection(" ".join(para.split())):
            continue
        kept.append(para + sep)
    return "".join(kept).strip()


def without_injections(hits: list[Hit]) -> list[Hit]:
    """Hits whose passages are free of prompt-like paragraphs (the same objects when nothing was found)."""
    out = []
    for hit in hits:
        cleaned = clean_passage(hit.chunk.text)
        if cleaned == hit.chunk.text.strip():
            out.append(hit)
        else:
            out.append(replace(hit, chunk=replace(hit.chunk, text=cleaned)))
    return out
