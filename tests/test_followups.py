"""Follow-up questions (kb/followup.py, `kb ask --follow-up-of`, the followups eval set) and
source links (kb/links.py, the source_urls setting, kb ask / --json output).

The Slack side of both is in tests/test_bot.py (threaded follow-ups through the loopback
Slack stand-in, link rendering in bot/format.py).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CORPUS

OFF_TOPIC = "How long should sourdough bread proof before baking?"


# -- the rewrite --------------------------------------------------------------------------------

@pytest.mark.parametrize("earlier, follow_up, standalone", [
    # a comparison without its second half gets the earlier subject
    ("what's an instruct model?", "and how is MoE different?", "how is MoE different from an instruct model?"),
    # pronouns and "this model" stand for the earlier subject
    ("What is a base model?", "how is it trained?", "how is a base model trained?"),
    ("What is knowledge distillation?", "what are its limits?", "what are knowledge distillation's limits?"),
    ("What is RAG?", "why does that matter?", "why does RAG matter?"),
    ("What is LoRA?", "does this method need a GPU?", "does LoRA need a GPU?"),
    # "what about X" / "and X" ask the earlier question about X
    ("What is a base model?", "what about a chat model?", "What is a chat model?"),
    ("What is LoRA?", "and QLoRA?", "What is QLoRA?"),
    ("How do I quantize a model?", "and for CPU?", "How do I quantize a model for CPU?"),
    ("How do I quantize a model for GPU?", "and for CPU?", "How do I quantize a model for CPU?"),
    ("what is the capital of France?", "and of Peru?", "what is the capital of Peru?"),
    # no subject of its own
    ("What is quantization?", "what are the downsides?", "what are the downsides of quantization?"),
    ("Why not deploy a base model?", "what should I use instead?", "what should I use instead of a base model?"),
    ("What is the difference between a dense model and an MoE model?", "which one is simpler to serve?",
     "which of a dense model and an MoE model is simpler to serve?"),
    # a bare reply is joined to the earlier question
    ("what's an instruct model?", "why?", "what's an instruct model? why?"),
    ("What is a tokenizer?", "can you explain more?", "What is a tokenizer? can you explain more?"),
    # a question that names its own subject stands alone
    ("What is quantization?", "what is a tokenizer?", "what is a tokenizer?"),
    ("What is LoRA?", "How many experts does a mixture of experts model use per token?",
     "How many experts does a mixture of experts model use per token?"),
])
def test_condense(earlier, follow_up, standalone):
    from kb.followup import condense

    assert condense(follow_up, [earlier]) == standalone


def test_condense_chains_and_ignores_empty_history():
    from kb.followup import condense

    # the second question is made standalone first, so "why?" keeps the conversation's subject
    assert condense("why?", ["What is a base model?", "how is it trained?"]) == "how is a base model trained? why?"
    assert condense("how is it trained?", []) == "how is it trained?"
    assert condense("how is it trained?", ["  "]) == "how is it trained?"


# -- links ---------------------------------------------------------------------------------------

def chunk(source: str, **meta: str):
    from kb.types import Chunk

    return Chunk(id="c", text="t", source=source, title="T", section="S", position=0, metadata=dict(meta))


def test_link_for_each_kind_of_source():
    from kb.links import link_for

    urls = {"/srv/docs": "https://docs.example.com/", "/srv/docs/api": "https://api.example.com/ref/{stem}.html",
            "/srv/repo": "https://git.example.com/team/repo/blob/main/{path}"}
    # front matter url wins over everything
    assert link_for(chunk("/srv/docs/a.md", url="https://elsewhere.example.com/a"), urls) == \
        "https://elsewhere.example.com/a"
    # a fetched page links to where it was fetched from
    assert link_for(chunk("https://wiki.example.com/p"), urls) == "https://wiki.example.com/p"
    # a mapped folder: base + relative path, or the {path} / {stem} template; the longest folder wins
    assert link_for(chunk("/srv/docs/guide/intro.md"), urls) == "https://docs.example.com/guide/intro.md"
    assert link_for(chunk("/srv/docs/api/models/llm.rst"), urls) == "https://api.example.com/ref/models/llm.html"
    assert link_for(chunk("/srv/repo/docs/x.md"), urls) == "https://git.example.com/team/repo/blob/main/docs/x.md"
    # no URL anywhere: ''; a sibling folder with a common prefix is not inside the mapped one
    assert link_for(chunk("/srv/docs-old/a.md"), urls) == ""
    assert link_for(chunk("/srv/other/a.md"), urls) == ""
    # only http(s) front matter is a link
    assert link_for(chunk("/srv/other/a.md", url="javascript:alert(1)"), urls) == ""


def test_source_urls_setting_from_env_and_toml(tmp_path, monkeypatch):
    from kb.errors import SettingsError
    from kb.settings import load_settings

    docs = tmp_path / "docs"
    docs.mkdir()
    monkeypatch.setenv("KB_SOURCE_URLS", json.dumps({str(docs) + "/": "https://docs.example.com/"}))
    assert load_settings().source_urls == {str(docs.resolve()): "https://docs.example.com/"}
    monkeypatch.delenv("KB_SOURCE_URLS")
    (tmp_path / "kb.toml").write_text('[source_urls]\n"docs" = "https://docs.example.com/{stem}/"\n')
    assert load_settings().source_urls == {str(docs.resolve()): "https://docs.example.com/{stem}/"}
    monkeypatch.setenv("KB_SOURCE_URLS", '{"docs": "docs.example.com"}')
    with pytest.raises(SettingsError, match=r"source_urls.*must start with http:// or https://"):
        load_settings()


def test_ingested_pages_carry_what_their_links_need(tmp_path, embedder, model_cache):
    """Real ingest of a front-matter page, a plain page under a mapped folder, an unmapped page
    and a page fetched over loopback HTTP; the stored chunks give each its link."""
    from ingest.fetch import fetch_urls
    from ingest.pipeline import run_ingest
    from kb.links import link_for
    from kb.settings import load_settings
    from kb.store import Store
    from tests.helpers import Recorder

    mapped, plain = tmp_path / "site", tmp_path / "notes"
    (mapped / "guide").mkdir(parents=True)
    plain.mkdir()
    pages = {  # distinct texts: ingest collapses near-duplicate pages
        mapped / "guide" / "widgets.md": "# Widgets\n\nWidgets are small brass parts that the assembly line "
                                         "joins together before a batch is tested.\n",
        mapped / "declared.md": "---\ntitle: Declared\nurl: https://wiki.example.com/declared\n---\n\n# Declared\n\n"
                                "The night shift logs every conveyor stop in a paper binder kept by the door.\n",
        plain / "local.md": "# Local\n\nOur canteen serves soup on Tuesdays and closes early on public holidays.\n",
    }
    for path, text in pages.items():
        path.write_text(text)
    page = ("<html><head><title>Fetched</title></head><body><h1>Fetched</h1><p>Visitors sign in at the gatehouse "
            "and wear a yellow badge while they walk the factory floor.</p></body></html>")
    settings = load_settings(store=tmp_path / "store", cache_dir=model_cache,
                             source_urls={str(mapped): "https://docs.example.com/{stem}/"})
    with Recorder(lambda *a: (200, {"Content-Type": "text/html"}, page.encode())) as web:
        docs, skipped = fetch_urls([web.url + "/fetched"], timeout=10)
        assert not skipped
        report = run_ingest([str(mapped), str(plain)], settings, Store(settings), embedder, progress=False,
                            extra_docs=docs)
    assert not report.failed
    links = {c.title: link_for(c, settings.source_urls) for c in Store(settings).all_chunks()}
    assert links == {"Widgets": "https://docs.example.com/guide/widgets/",
                     "Declared": "https://wiki.example.com/declared",
                     "Local": "",
                     "Fetched": web.url + "/fetched"}


# -- asking a follow-up ----------------------------------------------------------------------

def test_follow_up_is_retrieved_as_its_standalone_question_and_cites_links(sample_engine, sample_store):
    """One real answer: the follow-up is answered about the earlier subject, and with source_urls set
    the citations link to the published pages, in the Answer, in --json and in the terminal."""
    from kb.engine import Engine
    from kb.render import answer_text
    from kb.service import answer_json, ask

    s, store, _ = sample_store
    linked = s.model_copy(update={"source_urls": {str(SAMPLE_CORPUS.resolve()): "https://kb.example.com/"}})
    engine = Engine(linked, store=store, embedder=sample_engine.embedder, llm=sample_engine.llm)
    answer = ask(engine, linked, "how is it trained?", via="test", follow_up_of=["What is a base model?"])
    assert answer.question == "how is it trained?" and answer.standalone == "how is a base model trained?"
    assert not answer.refused and answer.citations
    top = {Path(h.chunk.source).name for h in answer.hits[:3]}
    assert top & {"base-model.md", "pretraining.md"}, top
    for c in answer.citations:
        rel = Path(c.source).resolve().relative_to(SAMPLE_CORPUS.resolve()).as_posix()
        assert c.url == f"https://kb.example.com/{rel}"
    data = answer_json(answer, explain=True)
    assert data["follow_up_of"] == ["What is a base model?"]
    assert data["standalone_question"] == data["explain"]["standalone_question"] == "how is a base model trained?"
    assert data["citations"][0]["url"].startswith("https://kb.example.com/glossary/")
    text = answer_text(answer, explain=True)
    assert "Standalone question: how is a base model trained?" in text
    assert f"      {answer.citations[0].url}\n" in text and answer.citations[0].source not in text


def invoke(args: list[str]):
    from click.testing import CliRunner

    from kb.cli import cli

    return CliRunner().invoke(cli, args)


def test_kb_ask_follow_up_of(sample_store):
    """The CLI path end to end; an out-of-scope conversation keeps it quick (no model runs for a refusal)."""
    s, _, _ = sample_store
    result = invoke(["--store", str(s.store), "ask", "--no-daemon", "--json", "--follow-up-of", OFF_TOPIC, "why?"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["question"] == "why?" and data["follow_up_of"] == [OFF_TOPIC]
    assert data["standalone_question"] == f"{OFF_TOPIC} why?" and data["refused"] is True
    text = invoke(["--store", str(s.store), "ask", "--no-daemon", "--explain", "--follow-up-of", OFF_TOPIC,
                   "and for rye bread?"])
    assert text.exit_code == 0, text.output
    assert "Standalone question: How long should sourdough bread proof before baking for rye bread?" in text.output
    assert "does not cover" in text.output
    # a plain question keeps the plain JSON shape
    plain = json.loads(invoke(["--store", str(s.store), "ask", "--no-daemon", "--json", OFF_TOPIC]).output)
    assert "standalone_question" not in plain and "follow_up_of" not in plain


def test_kb_ask_empty_follow_up_is_a_usage_error(sample_store):
    s, _, _ = sample_store
    result = invoke(["--store", str(s.store), "ask", "--follow-up-of", " ", "why?"])
    assert result.exit_code == 2 and "--follow-up-of is empty" in result.output
    assert "Traceback" not in result.output


# -- the eval set ----------------------------------------------------------------------------

def test_followups_set_has_fifteen_dialogues_over_the_sample_corpus():
    from eval.cases import load_set, resolve_set

    evalset = load_set(resolve_set("followups"))
    assert evalset.corpus_path == SAMPLE_CORPUS.resolve()
    dialogues = [c for c in evalset.cases if c.follow_up_of]
    assert len(dialogues) == len(evalset.cases) and len([c for c in dialogues if not c.refuse]) >= 15
    for case in dialogues:  # every expected source page exists
        for suffix in case.sources:
            assert (SAMPLE_CORPUS / suffix).is_file(), (case.id, suffix)


def test_follow_up_of_must_be_text(tmp_path):
    from eval.cases import EvalSetError, load_set

    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        name: bad
        corpus: corpus
        items:
          - id: q1
            question: "why?"
            follow_up_of: [1]
            kind: definition
            facts: [["x"]]
            sources: ["a.md"]
    """))
    with pytest.raises(EvalSetError, match=r"item 'q1': 'follow_up_of' must be a list of non-empty strings"):
        load_set(bad)


def test_kb_chat_answers_each_line_as_a_follow_up(sample_store):
    """Out-of-scope lines keep it quick: the conversation logic is the same for any answer."""
    s, _, _ = sample_store
    lines = f"{OFF_TOPIC}\nwhy?\n/new\nwhy?\n"
    from click.testing import CliRunner

    from kb.cli import cli

    result = CliRunner().invoke(cli, ["--store", str(s.store), "chat", "--json"], input=lines)
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert [a["question"] for a in answers] == [OFF_TOPIC, "why?", "why?"]
    assert "follow_up_of" not in answers[0]
    assert answers[1]["follow_up_of"] == [OFF_TOPIC] and answers[1]["standalone_question"] == f"{OFF_TOPIC} why?"
    assert "follow_up_of" not in answers[2]  # /new started over
    text = CliRunner().invoke(cli, ["--store", str(s.store), "chat"], input=f"{OFF_TOPIC}\nwhy?\n")
    assert text.exit_code == 0 and f"(read as: {OFF_TOPIC} why?)" in text.output
