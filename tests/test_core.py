"""The foundation slice end to end: ingest, ask, search, status, settings, modes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kb.text import GAP_MARK
from tests.conftest import SAMPLE_CORPUS, SHARED_CORPUS
from tests.helpers import Recorder, chat_completion, free_port, run_kb, wait_for

ASK_KEYS = {"question", "answer", "refused", "citations", "model", "timings"}
CITATION_KEYS = {"id", "source", "title", "section", "quote", "score"}


def cited_ids(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


def test_sample_ingest_is_idempotent(sample_store, embedder, settings):
    from ingest.pipeline import run_ingest
    from kb.store import Store

    _, store, report = sample_store
    assert not report.skipped, report.skipped
    assert len(report.added) >= 14
    first = store.count()
    store2 = Store(settings)
    run_ingest([str(SAMPLE_CORPUS)], settings, store2, embedder, progress=False)
    ids = sorted(store2.collection.get(include=[])["ids"])
    again = run_ingest([str(SAMPLE_CORPUS)], settings, store2, embedder, progress=False)
    assert store2.count() == first
    assert sorted(store2.collection.get(include=[])["ids"]) == ids
    assert len(again.unchanged) == len(report.added) and not again.added and not again.updated


def test_chunks_keep_source_title_section_position(sample_store):
    _, store, _ = sample_store
    chunks = store.all_chunks()
    base = [c for c in chunks if c.source.endswith("glossary/base-model.md")]
    assert base, "base-model page missing"
    assert all(c.title and c.section for c in base)
    assert sorted(c.position for c in base) == list(range(len(base)))
    # sized for MiniLM's 256-token window
    assert max(len(c.embed_text().split()) for c in chunks) <= 200


def test_ask_base_model_cites_base_model_page(sample_engine):
    answer = sample_engine.ask("why not deploy a base model?")
    assert not answer.refused
    assert answer.citations
    sources = {c.source for c in answer.citations}
    assert any(s.endswith(("glossary/base-model.md", "deploying-a-model.md", "deploying-a-model.mdx"))
               for s in sources), sources
    ids = {c.id for c in answer.citations}
    assert cited_ids(answer.answer) and cited_ids(answer.answer) <= ids
    assert sorted(ids) == list(range(1, len(ids) + 1))
    for c in answer.citations:  # every quote is verbatim from its passage
        chunk_text = " ".join(next(h.chunk.text for h in answer.hits if h.chunk.id == c.chunk_id).split())
        for part in re.split(r"(?<=[.!?])\s+", GAP_MARK.sub(" ", c.quote)):  # " ... " marks a gap
            assert part.strip() in chunk_text


@pytest.mark.parametrize("question,page", [
    ("What is a mixture of experts model?", "glossary/mixture-of-experts.md"),
    ("What is an embedding model?", "glossary/embedding-model.md"),
])
def test_search_puts_defining_page_first(sample_engine, question, page):
    hits = sample_engine.search(question, 3)
    assert hits[0].chunk.source.endswith(page), [h.chunk.source for h in hits]


def test_out_of_scope_is_refused_without_loading_the_model(sample_store, embedder):
    from kb.engine import Engine
    from kb.settings import load_settings

    s, store, _ = sample_store
    broken = load_settings(store=s.store, cache_dir=s.cache_dir, llm_model="/nonexistent/model-folder")
    engine = Engine(broken, store=store, embedder=embedder)
    answer = engine.ask("What is the best recipe for sourdough bread?")
    assert answer.refused
    assert "does not cover" in answer.answer
    assert answer.closest_topics and all(t in answer.answer for t in answer.closest_topics)
    assert answer.citations == []
    assert engine._llm is None  # never loaded, so never called


def test_cli_ask_json_schema_and_text(sample_store):
    s, _, _ = sample_store
    env = {"KB_STORE": str(s.store), "KB_CACHE_DIR": str(s.cache_dir)}
    proc = run_kb("ask", "--json", "what is a base model?", env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # exactly one JSON object
    assert set(data) - {"via"} == ASK_KEYS and data.get("via", "process") in ("process", "daemon")
    assert set(data["timings"]) >= {"retrieve_s", "generate_s", "total_s"}
    assert data["citations"] and all(set(c) >= CITATION_KEYS for c in data["citations"])
    assert cited_ids(data["answer"]) <= {c["id"] for c in data["citations"]}
    text = run_kb("ask", "what is the capital of Peru?", env=env)
    assert text.returncode == 0, text.stderr
    assert "does not cover" in text.stdout


def test_first_transformers_answer_in_a_pipe_draws_no_progress_bars(sample_store, tmp_path):
    """The one-off GGUF conversion and the weight loading print no bars into logs and pipes."""
    s, _, _ = sample_store
    env = {"KB_STORE": str(s.store), "KB_CACHE_DIR": str(tmp_path / "cache"), "KB_LLM_RUNTIME": "transformers",
           "KB_DRAFT": "always"}  # auto never loads the bundled model
    proc = run_kb("ask", "what is a base model?", env=env)
    assert proc.returncode == 0, proc.stderr
    assert list((tmp_path / "cache" / "models").glob("SmolLM2*/model.safetensors"))  # it did convert
    assert "Converting" not in proc.stderr and "Loading weights" not in proc.stderr and "%|" not in proc.stderr


def test_empty_store_says_how_to_fill_it(tmp_path):
    proc = run_kb("--store", str(tmp_path / "empty"), "ask", "what is a base model?")
    assert proc.returncode != 0
    assert "kb ingest" in proc.stderr
    assert "--store" in proc.stderr and "KB_STORE" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_empty_store_message_names_the_demo_store_when_there_is_one(tmp_path, settings):
    """After `make demo` the pages are in the clone's .kb-demo, not the per-user store kb opened."""
    from kb.engine import empty_store_message

    clone = tmp_path / "clone"
    assert "demo" not in empty_store_message("/x/store", settings, clone=clone)
    (clone / ".kb-demo").mkdir(parents=True)
    (clone / ".kb-demo" / "chroma.sqlite3").write_bytes(b"")
    text = empty_store_message("/x/store", settings, clone=clone)
    assert f"kb --store {clone / '.kb-demo'} ask" in text and "KB_STORE" in text
    # asking the demo store itself: no advice to use it
    demo_settings = settings.model_copy(update={"store": clone / ".kb-demo"})
    assert "demo" not in empty_store_message("/x", demo_settings, clone=clone)


def test_search_and_status_json(sample_store):
    s, store, _ = sample_store
    env = {"KB_STORE": str(s.store)}
    proc = run_kb("search", "--json", "router sends tokens to experts", env=env)
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)["hits"]
    assert hits and hits[0]["source"].endswith("mixture-of-experts.md")
    assert hits[0]["url"] == ""  # a local file with no web address
    # KB_SOURCE_URLS maps the corpus folder to where it is published: search shows the page's address
    folder = str(Path(hits[0]["source"]).parent)
    env_urls = {**env, "KB_SOURCE_URLS": json.dumps({folder: "https://docs.example.com/kb/"})}
    mapped = json.loads(run_kb("search", "--json", "router sends tokens to experts", env=env_urls).stdout)["hits"]
    assert mapped[0]["url"].startswith("https://docs.example.com/kb/") and "mixture-of-experts" in mapped[0]["url"]
    text = run_kb("search", "router sends tokens to experts", env=env_urls).stdout
    assert mapped[0]["url"] in text
    status = json.loads(run_kb("status", "--json", env=env).stdout)
    assert status["chunks"] == store.count() and status["pages"] >= 14 and status["empty"] is False
    assert status["embed_model"] and status["llm"] and status["store"] == str(s.store)


def test_bad_files_are_skipped_with_reasons(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Widget\n\nA widget is a small reusable part of a dashboard page.\n")
    (docs / "slides.pptx").write_bytes(b"%PDF-1.4 binary")
    (docs / "empty.txt").write_text("")
    (docs / "blob.md").write_bytes(b"\x00\x01\x02binary")
    (docs / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    proc = run_kb("--store", str(tmp_path / "s"), "ingest", "--json", str(docs), str(docs / "slides.pptx"))
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    reasons = {Path(s["source"]).name: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"slides.pptx", "empty.txt", "blob.md", "latin1.txt"}
    assert "unsupported" in reasons["slides.pptx"] and "empty" in reasons["empty.txt"]
    assert "binary" in reasons["blob.md"] and "UTF-8" in reasons["latin1.txt"]
    assert [Path(p).name for p in report["added"]] == ["good.md"]
    missing = run_kb("--store", str(tmp_path / "s"), "ingest", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_bad_model_setting_names_the_setting_and_keeps_store(tmp_path, sample_store):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Gadget\n\nA gadget is a tool that people use at work every day.\n")
    store = str(tmp_path / "s")
    assert run_kb("--store", store, "ingest", str(docs)).returncode == 0
    (docs / "b.md").write_text("# Gizmo\n\nA gizmo is a device whose name one forgets easily.\n")
    proc = run_kb("--store", store, "ingest", str(docs), env={"KB_EMBED_MODEL": "/nonexistent/embedder"})
    assert proc.returncode != 0 and "KB_EMBED_MODEL" in proc.stderr and "Traceback" not in proc.stderr
    status = json.loads(run_kb("--store", store, "status", "--json").stdout)
    assert status["pages"] == 1
    bad_llm = run_kb("--store", store, "--llm-model", "/nonexistent/llm", "ask", "what is a gadget?")
    assert bad_llm.returncode != 0 and "KB_LLM_MODEL" in bad_llm.stderr and "Traceback" not in bad_llm.stderr


def test_settings_env_file_and_cli_precedence(tmp_path, monkeypatch):
    from kb.errors import SettingsError
    from kb.settings import load_settings

    (tmp_path / "kb.toml").write_text('top_k = 7\ncollection = "from-toml"\n')
    monkeypatch.chdir(tmp_path)
    assert load_settings().top_k == 7
    monkeypatch.setenv("KB_TOP_K", "5")
    assert load_settings().top_k == 5
    assert load_settings(top_k=3).top_k == 3
    assert load_settings().collection == "from-toml"
    monkeypatch.setenv("KB_TOP_K", "many")
    with pytest.raises(SettingsError, match="top_k"):
        load_settings()


def test_help_is_instant_and_documented():
    code = ("import sys; from click.testing import CliRunner; from kb.cli import cli; "
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0; "
            "heavy = [m for m in ('torch', 'transformers', 'chromadb', 'llama_index') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    from click.testing import CliRunner

    from kb.cli import cli

    def walk(group, prefix):
        for name in group.list_commands(None):
            cmd = group.get_command(None, name)
            if hasattr(cmd, "commands"):
                yield from walk(cmd, [*prefix, name])
            else:
                yield [*prefix, name], cmd

    for path, cmd in walk(cli, []):
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example" in (cmd.help or ""), f"`kb {' '.join(path)}` has no Example in its help"


@pytest.mark.network
def test_chroma_server_mode(tmp_path, embedder):
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", str(tmp_path / "srv"),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            import httpx

            try:
                return httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(up, 60), "chroma server did not start"
        env = {"KB_CHROMA_URL": url}
        first = run_kb("ingest", "--json", str(SAMPLE_CORPUS / "glossary"), env=env)
        assert first.returncode == 0, first.stderr
        again = json.loads(run_kb("ingest", "--json", str(SAMPLE_CORPUS / "glossary"), env=env).stdout)
        assert again["counts"]["unchanged"] == json.loads(first.stdout)["counts"]["added"]
        status = json.loads(run_kb("status", "--json", env=env).stdout)
        assert status["mode"] == "server" and status["chunks"] == again["total_chunks"]
        hits = json.loads(run_kb("search", "--json", "what is a dense model", env=env).stdout)["hits"]
        assert hits[0]["source"].endswith("dense-model.md")
        assert not (tmp_path / "store").exists()  # nothing went to the embedded store
    finally:
        server.terminate()
        server.wait(10)
    dead = run_kb("status", env={"KB_CHROMA_URL": url})
    assert dead.returncode != 0 and "KB_CHROMA_URL" in dead.stderr and "Traceback" not in dead.stderr


@pytest.mark.network
def test_openai_compatible_endpoint(sample_store):
    """A stand-in endpoint drafts one supported and one invented sentence; only the first survives."""
    draft = ("A base model is a language model that has been trained only by pretraining. "
             "It was invented in 1987 by Zorblax Labs.")

    def handler(method, path, headers, body):
        if path.endswith("/chat/completions"):
            return 200, {"content-type": "application/json"}, chat_completion(draft)
        return 404, {}, b"{}"

    s, _, _ = sample_store
    with Recorder(handler) as server:
        env = {"KB_STORE": str(s.store), "KB_LLM_URL": f"{server.url}/v1", "KB_LLM_MODEL": "team-model"}
        proc = run_kb("ask", "--json", "--explain", "what is a base model?", env=env)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        request = json.loads(server.calls[-1]["body"])
    assert request["model"] == "team-model"
    prompt = " ".join(m["content"] for m in request["messages"])
    assert "[1]" in prompt and "what is a base model?" in prompt
    assert "team-model" in data["model"]
    assert data["explain"]["mode"] == "generated", data  # the shortening is kept as the model wrote it
    assert "trained only by pretraining [1]." in data["answer"] and "Zorblax" not in data["answer"]
    assert data["citations"][0]["source"].endswith("base-model.md")

    def failing(method, path, headers, body):
        return 500, {"content-type": "application/json"}, b'{"error": "boom"}'

    with Recorder(failing) as server:
        env = {"KB_STORE": str(s.store), "KB_LLM_URL": f"{server.url}/v1"}
        proc = run_kb("ask", "what is a base model?", env=env)
    assert proc.returncode != 0 and "KB_LLM_URL" in proc.stderr and "Traceback" not in proc.stderr


def test_seed_pages_ingest_and_answer(shared_store, shared_engine):
    _, _, report = shared_store
    assert len(report.added) + len(report.aliases) == 5
    answer = shared_engine.ask("What is a base model?")
    assert not answer.refused
    assert any(c.source.endswith(("002_cf57edaef917f7b0.txt", "003_fbeec71ce0b67350.txt"))
               for c in answer.citations)
    assert not SHARED_CORPUS.joinpath("nope").exists()


def test_readme_settings_table_is_current():
    from kb.settings import settings_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert settings_table() in readme, "README settings table is stale: run scripts/update-readme"


def test_terminal_answer_keeps_a_quoted_list_one_item_per_line():
    from kb.render import wrap

    text = ("\u201cTasks include:\n- Chat: have a conversation with a model that answers in turns, for as long as the "
            "user likes to keep talking\n- RAG: retrieve and generate text\u201d [1] \u201cAnother quote.\u201d [2]")
    lines = wrap(text, 60).split("\n")
    assert lines[0] == "\u201cTasks include:" and lines[1].startswith("- Chat:") and lines[2].startswith("  ")
    assert lines[-1].startswith("- RAG:") and all(len(line) <= 60 for line in lines)


def test_search_k_gives_k_hits_from_similar_pages_and_collapses_only_real_repeats(tmp_path, settings, embedder):
    """30 runbooks from one template differ in one service name: `-k 10` is 10 runbooks, not the 3 that
    survived when near-duplicate passages were collapsed across pages. An exact copy of a passage on another
    page, and a near-copy inside one page, still count once."""
    from ingest.pipeline import run_ingest
    from kb.engine import Engine
    from kb.store import Store

    docs = tmp_path / "runbooks"
    docs.mkdir()
    services = ["billing", "search", "ledger", "mailer", "gateway", "indexer", "scheduler", "uploader", "tracker",
                "resolver", "notifier", "renderer", "importer", "exporter", "archiver", "router", "planner",
                "checker", "syncer", "counter", "watcher", "crawler", "parser", "signer", "pager", "sorter",
                "mapper", "reducer", "loader", "cleaner"]
    for name in services:
        (docs / f"{name}.md").write_text(
            f"# Restarting the {name} service\n\nWhen the {name} service stops answering health checks, drain its "
            f"queue, restart the {name} pods one at a time and watch the error rate on the {name} dashboard for "
            "ten minutes before closing the incident.\n")
    same = ("A restart is safe during business hours as long as one replica stays up; page the owner first "
            "when the error rate is above two percent.")
    (docs / "copy-a.md").write_text(f"# Restart policy\n\n{same}\n")
    (docs / "copy-b.md").write_text(f"# Restart rules for on-call staff\n\n{same}\n")
    store = Store(settings)
    run_ingest([str(docs)], settings, store, embedder, progress=False)
    engine = Engine(settings, store=store, embedder=embedder)
    hits = engine.search("how do I restart a service that fails health checks?", 10)
    assert len(hits) == 10 and len({h.chunk.source for h in hits}) == 10
    assert len(engine.search("restart the pods and watch the dashboard", 25)) == 25  # more than `candidates`
    policy = [h for h in engine.search("is a restart safe during business hours with one replica up?", 10)
              if same in h.chunk.text]
    assert len(policy) == 1  # the exact copy on another page is collapsed


def test_near_copies_within_one_page_are_collapsed():
    from kb.retrieve import collapse_near_duplicates
    from kb.types import Chunk, Hit

    def hit(cid: str, source: str, text: str) -> Hit:
        return Hit(chunk=Chunk(id=cid, text=text, source=source, title="t", section="s", position=0), score=1.0)

    text = "Drain the queue, restart the pods one at a time and watch the error rate for ten minutes."
    hits = [hit("a1", "/a.md", text), hit("a2", "/a.md", text.replace("ten", "fifteen")),
            hit("b1", "/b.md", text.replace("ten", "fifteen")), hit("c1", "/c.md", "  " + text.upper())]
    assert [h.chunk.id for h in collapse_near_duplicates(hits)] == ["a1", "b1"]
    assert [h.chunk.id for h in collapse_near_duplicates(hits, limit=1)] == ["a1"]


def test_draft_never_answers_with_quotes_without_the_model(sample_store, embedder):
    from kb.engine import Engine

    s, store, _ = sample_store

    class Exploding:
        label = "must-not-run"

        def chat(self, messages, max_new_tokens):
            raise AssertionError("draft=never called the model")

    engine = Engine(s.model_copy(update={"draft": "never"}), store=store, embedder=embedder, llm=Exploding())
    answer = engine.ask("What is a mixture of experts model?")
    assert answer.mode == "quoted" and answer.citations and not answer.raw
    assert answer.timings["generate_s"] == 0.0 and answer.timings["tokens"] == 0
    assert all(f"[{c.id}]" in answer.answer for c in answer.citations)


def test_draft_auto_skips_a_runtime_whose_drafts_are_not_kept(sample_store, embedder, monkeypatch):
    """auto: no model is loaded for onnx-genai (DRAFTS_NOT_KEPT) nor for the bundled model on any runtime
    (DRAFTS_NOT_KEPT_MODELS); other models and handed-in LLMs draft."""
    import kb.backends
    from kb.backends.registry import DRAFTS_NOT_KEPT
    from kb.engine import Engine

    s, store, _ = sample_store
    assert "onnx-genai" in DRAFTS_NOT_KEPT
    monkeypatch.setattr(kb.backends, "load_llm", lambda settings: pytest.fail("auto loaded the LLM"))
    engine = Engine(s.model_copy(update={"draft": "auto", "llm_runtime": "onnx-genai"}), store=store,
                    embedder=embedder)
    answer = engine.ask("What is a mixture of experts model?")
    assert answer.mode == "quoted" and answer.citations and engine._llm is None
    # the bundled 135M model's drafts are skipped on every runtime (DRAFTS_NOT_KEPT_MODELS); another model drafts
    assert not Engine(s.model_copy(update={"draft": "auto", "llm_runtime": "transformers"}), store=store,
                      embedder=embedder).wants_draft()
    assert Engine(s.model_copy(update={"draft": "auto", "llm_runtime": "transformers",
                                       "llm_model": "team/bigger-instruct-model"}), store=store,
                  embedder=embedder).wants_draft()
    handed = Engine(s.model_copy(update={"draft": "auto", "llm_runtime": "onnx-genai"}), store=store,
                    embedder=embedder, llm=object())
    assert handed.wants_draft()
    assert Engine(s.model_copy(update={"draft": "always", "llm_runtime": "onnx-genai"}), store=store,
                  embedder=embedder).wants_draft()


def test_draft_auto_holds_after_the_model_was_loaded_lazily(sample_store, embedder):
    """kb serve and the bot load models up front; a lazily loaded onnx-genai LLM must not turn drafting back on."""
    from kb.engine import Engine

    s, store, _ = sample_store
    engine = Engine(s.model_copy(update={"draft": "auto", "llm_runtime": "onnx-genai"}), store=store,
                    embedder=embedder)
    engine._llm = object()  # as if `engine.llm` had loaded it
    assert not engine.wants_draft()


def test_dense_search_is_exact_and_the_same_in_every_process(sample_store, embedder):
    """Chroma's HNSW graph is loaded a little differently by each process: on the realdocs store a few
    questions missed one of their 20 nearest passages, a different few each run. Up to EXACT_MAX passages
    the nearest ones are found by one product over the stored vectors: exact, and the same every time."""
    import os
    import subprocess
    import sys

    import numpy as np

    from kb.retrieve import EXACT_MAX, Corpus

    s, store, _ = sample_store
    corpus = Corpus.build(store, "test")
    assert corpus.size <= EXACT_MAX
    vectors = store.get_with_vectors(corpus.ids)
    q = embedder.encode(["why not deploy a base model?"], normalize_embeddings=True)[0]
    sims = {cid: float(np.asarray(vec, dtype=np.float32) @ q) for cid, (_, vec) in vectors.items()}
    want = sorted(sims, key=lambda cid: -sims[cid])[:7]
    got = corpus.nearest(q.tolist(), 7)
    assert [c.id for c, _ in got] == want
    assert [round(sim, 5) for _, sim in got] == [round(sims[cid], 5) for cid in want]
    assert all(c.text for c, _ in got)  # whole chunks, as the store's own query returns them
    assert corpus.nearest(q.tolist(), 7) == got

    script = ("import sys, json; from kb.settings import load_settings; from kb.store import Store; "
              "from kb.backends import load_embedder; from kb.engine import Engine; "
              "st = load_settings(store=sys.argv[1]); store = Store(st); "
              "e = Engine(st, store=store, embedder=load_embedder(st, store=store)); "
              "print(json.dumps([[h.chunk.id, round(h.score, 9)] for h in e.search('what is an MoE model?', 8)]))")
    runs = {subprocess.run([sys.executable, "-c", script, str(s.store)], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
            for seed in (1, 2)}
    assert len(runs) == 1  # two processes, one answer


def test_exact_search_skips_passages_an_ingest_removed_meanwhile(tmp_path, settings, embedder):
    """While an ingest runs, the engine keeps the corpus it loaded (Engine.refresh); a passage removed since
    is not found, and the search does not fail on it."""
    from tests.helpers import engine_over_pages

    engine = engine_over_pages({"a.md": "# Caches\n\nA cache keeps recent answers in memory.\n",
                                "b.md": "# Queues\n\nA queue holds requests until a worker is free.\n"},
                               tmp_path, settings, embedder)
    corpus = engine.corpus()
    gone = [c.id for c in engine.store.all_chunks() if c.source.endswith("a.md")]
    engine.store.delete_ids(gone)
    q = embedder.encode(["what does a cache keep?"], normalize_embeddings=True)[0].tolist()
    found = [c.id for c, _ in corpus.nearest(q, 5)]
    assert found and not set(found) & set(gone)


def test_an_answer_reads_the_top_pages_further_passages(tmp_path, settings, embedder):
    """Engine.passages: the top_k ranked passages (what `kb search` shows), then passages ranked past them on the
    top pages, marked as neighbours; `page_passages=0` reads the ranked ones only. The scope check sees only the
    ranked ones."""
    from tests.helpers import engine_over_pages

    s = settings.model_copy(update={"top_k": 2, "page_passages": 6})
    parts = ["A chain link holds a pin between two plates.", "Chains stretch as their pins wear down.",
             "Oil keeps a chain quiet and slows rust.", "A master link lets you open a chain without tools.",
             "Chains come in pitches from a quarter inch upwards.", "A chain guard keeps fingers away from the teeth."]
    pages = {"chains.md": "# Chains\n\n" + "\n\n".join(f"## Part {i}\n\n{p}" for i, p in enumerate(parts)),
             "belts.md": "# Belts\n\n## Belts\n\nA belt grips a pulley by friction.\n"}
    engine = engine_over_pages(pages, tmp_path, s, embedder)
    q = "What does a chain link hold?"
    read = engine.passages(q)
    assert [h.chunk.id for h in read[:2]] == [h.chunk.id for h in engine.search(q, 2)]
    assert not any(h.neighbour for h in read[:2])
    top_pages = {h.chunk.source for h in read[:2]}
    assert len(read) > 2 and all(h.neighbour and h.chunk.source in top_pages for h in read[2:])
    engine.settings = s.model_copy(update={"page_passages": 0})
    assert [h.chunk.id for h in engine.passages(q)] == [h.chunk.id for h in read[:2]]
