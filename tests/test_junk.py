"""The junk-quote rule (kb/junk.py): what is never quoted, where it is enforced, how the eval counts it.

Invented sentences test the rule; the real pages in ../shared/realdocs (skipped when absent)
are ingested with the real pipeline to check that no quotable sentence of theirs is junk.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.junk import junk_reason, without_code
from kb.types import Answer, Chunk, Citation, Hit

REALDOCS = Path(__file__).resolve().parent.parent.parent / "shared" / "realdocs"


def _hit(text: str, cid: str = "c1") -> Hit:
    return Hit(chunk=Chunk(id=cid, text=text, source="/p.md", title="Page", section="Section", position=0,
                           page_hash="h", page_chunks=1, metadata={}), score=1.0, dense=0.8)


@pytest.mark.parametrize("text, why", [
    ("Here is what a preference record looks like:", "lead-in"),
    ("The pseudocode goes as follows.", "lead-in"),
    ("You will meet prefill and decode in the phases below.", "lead-in"),
    ("For a more detailed reading, we recommend the chapter on routers.", "filler"),
    ("We recommend reading the scheduler guide before you start.", "filler"),
    ("The image below compares the two adapters side by side.", "filler"),
    ("In the figure, the left half shows the frozen weights.", "filler"),
    ("See the figure for the full loss curve.", "filler"),
    ("Use the simulator below to try different batch sizes.", "filler"),
    ("Use the calculator below to size the cache for your context length.", "filler"),
    ("Below, we describe how to turn the feature on.", "filler"),
    ("Let's first take a look at the loaders and see which one fits.", "filler"),
    ("Why does the write cache matter?", "question"),
    ("“Paired rows (chosen + rejected)?”", "question"),
    ("Sharding lets two small cards train a large model[^2].", "footnote"),
    ("The visualizer below shows how a request moves through the server.", "filler"),
    ("Switch between a short and a long prompt, and notice how the cache grows.", "filler"),
    ("Let's take a look at how the adapter is built.", "filler"),
    ("See Scheduler Tuning Guide.", "pointer"),
    ("Refer to the adapter reference.", "pointer"),
    ("For details on rank, see the LoRA page.", "pointer"),
    ("Learn more about batching in the serving guide.", "pointer"),
    ("See the \"Scheduler Deep Dive\" chapter of the operator handbook for more information.", "pointer"),
    ("See `pebble/loaders/registry.py` for the current list of supported loaders.", "pointer"),
    ("For an extended discussion of ranks versus alphas, see adapter tuning notes.", "pointer"),
    ("Tip: Check out our sharding cookbook.", "pointer"),
    ("> A: The loader retries three times.", "blockquote"),
    ("| Rank | Memory | Speed | |---|---|---| | 8 | 2 GB | fast |", "table"),
    ("$$ L = -\\mathbb{E}[\\log \\sigma(r)] $$", "LaTeX"),
    ("The loss is $\\beta_{t}$ times the margin.", "LaTeX"),
    ("Pass the config to [`PebbleTrainer`] before training.", "doc-link"),
    ("Read the {{ site.docs_url }} page to set it up.", "template"),
    ("Wrap the turn as <|turn_start|>user Hello<|turn_end|> before sending.", "chat-template"),
    ("```python trainer.fit() ```", "code fence"),
    ("from pebble.train import Trainer", "code"),
    ("cfg = {'rank': 8, 'alpha': 16, 'dropout': [0.1, 0.2]}", "code"),
    ("a = 1; b = 2; c = 3; d = {x}; e = [y]", "code"),  # semicolons of code, not a table row
    ("Width: 8; Height: {h}; Depth: [d]; Mode: $m; Scale: <s>", "code"),  # a row shape does not hide code
    ("Use {class}`~pebble.quant.Int4Config` for weights.", "role"),
    ("The reply was fine.\\n\\nWait, check it again.", "escaped newline"),
    ("Replace &lt;user&gt; with your login name.", "HTML entity"),
    ("The rank is far below the layer's width \x00- the dimensions of a linear layer.", "control character"),
    ("Routing Tokens at Scale: Sparse Layers for Large Models (https://example.org/abs/1234.5678)", "reference"),
    ("Forum: https://forum.example.org/pebble Docs: https://docs.example.org/ Chat: https://chat.example.org/",
     "links"),
])
def test_junk_cases(text, why):
    assert junk_reason(text), (text, why)


@pytest.mark.parametrize("text", [
    "A mixture-of-experts layer sends each token to two of its eight experts.",
    "Lower precision costs a little quality at 8-bit and more at 4-bit or below.",
    "Set `max_steps` to 500 and `warmup` to 50 for a short run.",  # inline code is content
    "The `{{ .Prompt }}` variable holds the user's message.",  # a template shown as code is content
    "Without control tokens, the tokenizer reads “[CTRL]” as plain text.",
    "Lead-in with its list:\n- first thing\n- second thing",  # a lead-in quoted with its list
    "Q: Why does the loader retry? A: Because the disk is slow.",
    "Version 2.1 added int4 kernels (see the changelog).",
    "See how the router picks two experts for every token, then adds their outputs weighted by the gate's scores.",
    "Read throughput rises with batch size until memory runs out.",
    "See how the cache grows: each token adds one row for more information to attend to.",
    "Read the model card for details before you deploy it.",
    "Note: a merged adapter cannot be unmerged, so keep a copy of the base weights.",
    "Batches below, at or above the limit are queued.",
    "Switch between the two schedulers when your traffic changes; see how each handles bursts in its docs.",
    "Download the weights from the mirror (https://example.org/weights) before the first run.",  # says what to do
    "The cache (see https://example.org/cache) keeps every page for a day.",
    # a table row as ingest flattens it ('Header: cell; Header: cell'): its '; ' separators are not code
    "Kernel: K7; Rank: 64; Alpha: 128; Peak memory: 17.5 GB; Score (quiz_v2): 0.61",
    "Format: INT3; Size vs FP32: 9%; Quality loss: Large; Use case: Research; Notes: Rarely used",
])
def test_not_junk(text):
    assert junk_reason(text) == ""


def test_only_non_junk_sentences_are_quotable():
    """source_sentences (what kb quotes and checks drafts against) leaves out junk and fenced code,
    and keeps a lead-in only with its list."""
    from kb.passages import source_sentences

    text = ("Adapters train a few extra weights on a frozen model.\n\n"
            "The training loop is shown below:\n\n"
            "```python\nfor batch in loader:\n    loss = step(batch)\n```\n\n"
            "For a more detailed reading, we recommend the adapter chapter.\n\n"
            "An adapter has two parts:\n\n- a down projection\n- an up projection\n\n"
            "> Note: adapters can be merged after training.")
    got = [s.text for s in source_sentences([_hit(text)])]
    assert got == ["Adapters train a few extra weights on a frozen model.",
                   "An adapter has two parts:\n- a down projection\n- an up projection"]


def test_a_chunk_cut_inside_a_code_block_loses_the_rest_of_the_block():
    text = "    loss.backward()\n```\n\nThe step updates only the adapter."
    assert without_code(text).split() == ["The", "step", "updates", "only", "the", "adapter."]
    assert without_code("Intro.\n```bash\nrun it\n```\nAfter.").split() == ["Intro.", "After."]


def test_ingest_cleans_markup_before_it_reaches_a_chunk():
    from ingest.clean import clean_markdown

    page = ("# Adapters\n\nRanks compared:\n\n| Rank | Memory |\n|---|---|\n| 8 | 2 GB |\n| 64 | 9 GB |\n\n"
            "| Setting | Effect | Default |\n| --- | --- | --- |\n| `alpha` | scales the update | 16 |\n\n"
            "> A: Merge the adapter after training. See [`PebbleTrainer`] and {class}`~pebble.Q` here.\n"
            "> [!NOTE]\n> Keep {{ site.version }} pinned; replace &lt;user&gt; with your name "
            "([guide](https://example.org/g )).\n\n"
            "```go\n{{ .Prompt }}\n```\n")
    _, body, _, _ = clean_markdown(page)
    assert body.splitlines() == [
        "# Adapters", "", "Ranks compared:", "", "Rank: 8; Memory: 2 GB", "", "Rank: 64; Memory: 9 GB", "",
        "Setting: `alpha`; Effect: scales the update; Default: 16", "",
        "A: Merge the adapter after training. See `PebbleTrainer` and `Q` here.",  # a MyST role: as reST's
        "Note:", "Keep  pinned; replace <user> with your name (guide).", "",
        "```go", "{{ .Prompt }}", "```"]


def test_non_adjacent_quotes_from_one_passage_show_the_gap(embedder):
    """A citation's quote joins the sentences it cites; one that skips sentences shows '...'."""
    from eval.metrics import quote_in_passage
    from kb.cite import CitationBook
    from kb.passages import source_sentences

    text = ("Experts are small networks. A router is a small scorer. It is fast at picking two. "
            "Each token is sent there.")
    hit = _hit(text)
    a, b, c, d = source_sentences([hit])
    book = CitationBook([hit])
    book.cite(a, 0.9)
    book.cite(b, 0.9)
    book.cite(d, 0.9)
    quote = book.citations[0].quote
    assert quote == "Experts are small networks. A router is a small scorer. ... Each token is sent there."
    assert quote_in_passage(quote, text)


def test_a_gap_after_a_row_or_item_gets_a_citation_of_its_own(embedder):
    """A gap mark is only a boundary after a sentence's end: joined after a table row ('... 2 GB ... Rank:
    ...') the quote read as one sentence no page holds, so the eval found it in no passage. Such a quote
    gets its own number; its citation's quote is verbatim."""
    from eval.metrics import quote_in_passage
    from kb.cite import CitationBook
    from kb.passages import source_sentences

    text = ("Rank: 8; Alpha: 16; Peak memory: 2 GB; Score: 0.41\n\nRank: 16; Alpha: 32; Peak memory: 3 GB; "
            "Score: 0.44\n\nRank: 64; Alpha: 128; Peak memory: 9 GB; Score: 0.47")
    hit = _hit(text)
    a, b, c = source_sentences([hit])
    book = CitationBook([hit])
    assert book.cite(a, 0.9) == 1 and book.cite(c, 0.9) == 2
    assert book.cite(b, 0.9) == 3
    assert [cit.quote for cit in book.citations] == [a.text, c.text, b.text]
    assert all(quote_in_passage(cit.quote, text) for cit in book.citations)


# -- the eval's metrics -------------------------------------------------------------------
def _answer(text: str, refused: bool = False) -> Answer:
    return Answer(question="q", answer=text, refused=refused, model="m", timings={}, hits=[],
                  citations=[Citation(id=1, source="/p.md", title="T", section="S", quote="x", score=1.0)],
                  mode="refused" if refused else "quoted")


def test_junk_quote_rate_counts_answers_with_a_junk_quote():
    from eval.metrics import aggregate, junk_quotes

    clean = "\u201cExperts are small networks.\u201d [1] \u201cA router scores them.\u201d [1]"
    junk = "\u201cExperts are small networks.\u201d [1] \u201cThe router works as follows:\u201d [1]"
    assert junk_quotes(clean) == []
    assert junk_quotes(junk) == ["a lead-in without what it leads into: The router works as follows:"]
    recs = [{"junk_quote": 0.0, "refused": False, "expect_refusal": False, "grade": "correct"},
            {"junk_quote": 1.0, "refused": False, "expect_refusal": False, "grade": "correct"},
            {"junk_quote": None, "refused": True, "expect_refusal": True, "grade": "correct"}]
    assert aggregate(recs)["junk_rate"] == 0.5


def test_first_sentence_key_fact_recall():
    from eval.cases import Case
    from eval.metrics import first_fact_recall, first_sentence, score_answer

    facts = [["small networks"], ["router"]]
    late = "\u201cExperts are hard to tune.\u201d [1] \u201cExperts are small networks picked by a router.\u201d [1]"
    first = "\u201cExperts are small networks picked by a router.\u201d [1] \u201cExperts are hard to tune.\u201d [1]"
    listed = "\u201cA layer has two parts:\n- a router\n- small networks\u201d [1] \u201cMore.\u201d [1]"
    assert first_fact_recall(late, facts) == 0.0
    assert first_fact_recall(first, facts) == 1.0
    assert first_sentence(listed) == "A layer has two parts:\n- a router\n- small networks"
    assert first_fact_recall("Experts are small networks [1]. A router picks them [1].", facts) == 0.5
    case = Case(id="x", question="What are experts?", kind="definition", facts=facts, sources=["/p.md"])
    rec = score_answer(case, _answer(first), lambda s, c: 1.0)  # Case: facts as the set loader gives them
    assert rec["first_fact_recall"] == 1.0 and rec["junk_quote"] == 0.0
    assert score_answer(case, _answer("No.", refused=True), lambda s, c: 1.0)["first_fact_recall"] is None


# -- real pages ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def realdocs_chunks(tmp_path_factory, model_cache) -> list[Chunk]:
    """The chunks `kb ingest ../shared/realdocs` would store: the pipeline's own read, clean,
    near-copy collapse, repeated-line removal and chunking (ingest/pipeline.py `Run`), without
    the embedding, which changes no text and takes minutes on a shared CPU."""
    if not REALDOCS.is_dir():
        pytest.skip("../shared/realdocs is absent")
    from ingest.chunk import chunk_page
    from ingest.pipeline import IngestReport, Run, load_docs
    from kb.settings import load_settings
    from kb.store import Store

    settings = load_settings(store=tmp_path_factory.mktemp("realdocs-store"), cache_dir=model_cache)
    report = IngestReport()
    run = Run(Store(settings), report, embedder=None, progress=False)
    docs = load_docs([str(REALDOCS)], report, settings.max_page_bytes)
    pages = run.collapse(run.clean(docs), {d.source for d in docs}, set())
    run.drop_repeated_lines(pages)
    assert len(pages) >= 90 and not report.failed
    return [c for page in pages for c in chunk_page(page)]


def test_no_quotable_sentence_of_the_real_pages_is_junk(realdocs_chunks):
    """Every chunk of ~100 real documentation pages, through the real ingest pipeline: no quotable
    sentence is junk, ingest left no table pipes, doc links, template tags or entities in prose,
    and most pages still have plenty to quote (the rule does not throw pages away)."""
    import re

    from kb.junk import INLINE_CODE
    from kb.passages import source_sentences

    chunks = realdocs_chunks
    quotable: dict[str, int] = {}
    leftovers = []
    for chunk in chunks:
        for src in source_sentences([Hit(chunk=chunk, score=0.0)]):
            assert junk_reason(src.text) == "", (chunk.source, src.text)
            quotable[chunk.source] = quotable.get(chunk.source, 0) + 1
        prose = INLINE_CODE.sub("", without_code(chunk.text))
        for pattern in (r"^\s*\|.*\|\s*$", r"\[`[^`]+`\]", r"\{\{ *site\.", r"&(?:lt|gt|amp);", r"^> "):
            leftovers += [(chunk.source, m.group()) for m in re.finditer(pattern, prose, re.M)]
    assert not leftovers, leftovers[:5]
    pages = {c.source for c in chunks}
    assert sum(quotable.get(p, 0) >= 5 for p in pages) >= 0.85 * len(pages)
