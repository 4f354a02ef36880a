"""The vocabulary shared by ingest, query, bot and eval.

A Page is what a reader wrote; a Chunk is the piece of a page that gets embedded;
a Hit is a chunk found for a question; an Answer carries the text and the
Citations that back each of its sentences. Renderers (CLI, Slack, eval reports)
only ever see these objects, so every layer speaks the same language.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Page:
    """One source document after cleaning, before chunking."""

    source: str  # path or URL, the identity of the page
    title: str
    text: str  # cleaned Markdown-ish text with '#' headings
    kind: str = "md"  # md | html | txt
    metadata: dict[str, Any] = field(default_factory=dict)  # front matter, term, aliases...
    modified: str = ""  # ISO time the source was fetched or last modified
    content_hash: str = ""


@dataclass
class Chunk:
    """A section-sized piece of a page; `id` is stable across re-ingests."""

    id: str
    text: str  # the passage as shown to readers and quoted in citations
    source: str
    title: str
    section: str
    position: int
    page_hash: str = ""
    page_chunks: int = 0  # how many chunks the page had when written (crash check)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def heading(self) -> str:
        """The page title and section the passage sits under ('Closed models: Pricing')."""
        return self.title if not self.section or self.section == self.title else f"{self.title}: {self.section}"

    def embed_text(self) -> str:
        """Title and section give a short passage the context the embedder needs."""
        return f"{self.heading}\n{self.text}"


@dataclass
class Hit:
    """A chunk retrieved for a question, with the scores that ranked it."""

    chunk: Chunk
    score: float  # fused score used for ranking
    dense: float = 0.0  # cosine similarity of question and chunk
    lexical: float = 0.0  # BM25 score (0 when not found lexically)
    neighbour: bool = False  # ranked past top_k on one of the top pages: more sentences to quote, never evidence
    # of which page answers or whether the knowledge base covers the question (kb/retrieve.py page_neighbours)


@dataclass
class Citation:
    """A numbered pointer from answer sentences to the exact supporting quote."""

    id: int
    source: str
    title: str
    section: str
    quote: str
    score: float
    chunk_id: str = ""
    ingested: str = ""
    modified: str = ""
    url: str = ""  # the page's web address (front matter, fetched URL or source_urls); "" for a bare file

    @property
    def link(self) -> str:
        """What a reader follows: the page's URL, else its file path."""
        return self.url or self.source

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SentenceCheck:
    """What verification decided for one generated sentence (for --explain and eval)."""

    text: str
    action: str  # kept | quoted | dropped
    support: float
    citation: int | None = None
    reason: str = ""


@dataclass
class Progress:
    """An answer on its way, for front ends that show it while the model writes (the Slack bot)."""

    stage: str  # retrieved: passages found | quoted: the source sentences kb would quote, before the model
    #             writes | verified: the model's sentences that passed verification so far
    sources: list[str]  # titles of the retrieved pages, best first
    sentences: list[str] = field(default_factory=list)  # the quotes (quoted), or the kept sentences (verified)


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    model: str
    timings: dict[str, float] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    checks: list[SentenceCheck] = field(default_factory=list)
    raw: str = ""  # the model's output before verification
    mode: str = "generated"  # generated | quoted | refused
    closest_topics: list[str] = field(default_factory=list)
    follow_up_of: list[str] = field(default_factory=list)  # earlier questions of the conversation, oldest first
    standalone: str = ""  # the follow-up rewritten to stand alone (kb/followup.py): what was retrieved and answered

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of `kb ask --json` (see README); a follow-up adds its earlier
        questions and the standalone question kb answered."""
        out: dict[str, Any] = {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "model": self.model,
            "timings": self.timings,
        }
        if self.follow_up_of:
            out.update(follow_up_of=list(self.follow_up_of), standalone_question=self.standalone)
        return out
