"""The layout holds: no import cycles, the core never imports a front end, and each of
"add an LLM runtime", "add an embedder", "add a front end" is one new file plus one
registry line (each done here, in a test)."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path
from typing import get_args

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kb", "ingest", "eval", "bot")
FRONT_ENDS = ("ingest", "eval", "bot")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, module_level: bool) -> list[str]:
    """Imported module names: module level only (not under `if TYPE_CHECKING`), or everywhere."""
    names: list[str] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                names.extend(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
                names.extend(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                continue
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "finalbody", []))
            elif not module_level:
                visit([n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)])

    visit(tree.body)
    return names


def import_graph(module_level: bool = True) -> dict[str, set[str]]:
    """module -> the project modules it imports (a `from pkg import name` counts pkg.name when that is a module)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(ast.parse(path.read_text(encoding="utf-8")), module_level):
            if imported in modules and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles():
    """Not even through imports inside functions: at fd88a84 this found kb.cli <-> bot.cli and
    kb.models <-> kb.onnx_embed."""
    assert cycles(import_graph(module_level=False)) == []


def test_the_core_never_imports_a_front_end():
    graph = import_graph(module_level=False)  # not even inside a function
    bad = {m: sorted(t for t in targets if t.split(".")[0] in FRONT_ENDS)
           for m, targets in graph.items() if m.split(".")[0] == "kb"}
    assert {m: t for m, t in bad.items() if t} == {}


def test_the_checker_sees_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("import x\nif TYPE_CHECKING:\n    import y\ndef f():\n    import z\n")
    assert _imports(tree, module_level=True) == ["x"]
    assert _imports(tree, module_level=False) == ["x", "z"]


# -- one new file plus one registry line -----------------------------------------------------------

def _new_module(tmp_path: Path, monkeypatch, name: str, source: str) -> str:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return name


FAKE_LLM = '''
    """A runtime that answers every question with one sentence."""


    class EchoLLM:
        label = "echo-runtime"

        def __init__(self, settings):
            self.settings = settings
            self.calls = 0

        def chat(self, messages, max_new_tokens):
            self.calls += 1
            return "A mixture of experts model sends each token to only a few experts.", 14


    def load(settings):
        return EchoLLM(settings)
'''


def test_a_new_llm_runtime_is_one_module_and_one_registry_line(tmp_path, monkeypatch, sample_store, embedder):
    from kb.backends import LLM, LLM_RUNTIMES, load_llm
    from kb.engine import Engine
    from kb.settings import Settings

    module = _new_module(tmp_path, monkeypatch, "echo_runtime", FAKE_LLM)
    monkeypatch.setitem(LLM_RUNTIMES, "echo", f"{module}:load")  # the one registry line
    # the llm_runtime setting accepts every registered runtime (its Literal comes from the registry)
    assert set(get_args(Settings.model_fields["llm_runtime"].annotation)) == {"auto", *LLM_RUNTIMES} - {"echo"}
    s, store, _ = sample_store
    # KB_LLM_RUNTIME=echo once the line is in the registry; draft=always: auto skips the bundled model's drafts
    settings = s.model_copy(update={"llm_runtime": "echo", "draft": "always"})
    llm = load_llm(settings)
    assert isinstance(llm, LLM) and llm.label == "echo-runtime"
    answer = Engine(settings, store=store, embedder=embedder).ask("What is a mixture of experts model?")
    assert answer.model == "echo-runtime" and not answer.refused
    assert answer.raw.startswith("A mixture of experts model") and answer.citations


def test_a_registered_runtime_is_a_valid_setting_choice(tmp_path):
    """The Literal of each choice setting is read from the registry when kb.settings is imported, so the
    registry line alone makes KB_LLM_RUNTIME / KB_EMBED_BACKEND accept the new name, validated by pydantic
    (the tests above set it with model_copy, which does not validate). In a fresh process the line is in
    the registry before kb.settings is imported, as it is when written into kb/backends/registry.py."""
    import os
    import subprocess

    register = ('import kb.backends.registry as registry\n'
                'registry.LLM_RUNTIMES["echo"] = "echo_runtime:load"\n'
                'registry.EMBED_BACKENDS["hash"] = "hash_embedder:load"\n')
    load = "from kb.settings import load_settings\ns = load_settings()\nprint(s.llm_runtime, s.embed_backend)\n"
    env = {**os.environ, "KB_LLM_RUNTIME": "Echo", "KB_EMBED_BACKEND": "hash",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    def run(code: str, **unset: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], env={**env, **unset}, capture_output=True, text=True,
                              cwd=tmp_path)

    out = run(register + load)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["echo", "hash"]
    # without the registry lines the same values are refused, naming the variable
    bad = run(load, KB_EMBED_BACKEND="auto")
    assert bad.returncode != 0 and "KB_LLM_RUNTIME" in bad.stderr
    bad = run(load, KB_LLM_RUNTIME="auto")
    assert bad.returncode != 0 and "KB_EMBED_BACKEND" in bad.stderr


FAKE_EMBEDDER = '''
    """Bag-of-words vectors hashed into 64 dimensions: no model at all."""
    import re
    import zlib

    import numpy as np


    class HashEmbedder:
        def encode(self, sentences, batch_size=32, normalize_embeddings=False, show_progress_bar=None, **_):
            single = isinstance(sentences, str)
            texts = [sentences] if single else list(sentences)
            out = np.zeros((len(texts), 64), dtype=np.float32)
            for row, text in enumerate(texts):
                for word in re.findall(r"[a-z]+", text.lower()):
                    out[row, zlib.crc32(word.encode()) % 64] += 1.0
            if normalize_embeddings:
                out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-9, None)
            return out[0] if single else out


    def load(settings):
        return HashEmbedder()
'''


def test_a_new_embedder_is_one_module_and_one_registry_line(tmp_path, monkeypatch, settings):
    from ingest.pipeline import run_ingest
    from kb.backends import EMBED_BACKENDS, Embedder, load_embedder
    from kb.engine import Engine
    from kb.store import Store

    module = _new_module(tmp_path, monkeypatch, "hash_embedder", FAKE_EMBEDDER)
    monkeypatch.setitem(EMBED_BACKENDS, "hash", f"{module}:load")  # the one registry line
    settings = settings.model_copy(update={"embed_backend": "hash"})
    embedder = load_embedder(settings)
    assert isinstance(embedder, Embedder) and type(embedder).__name__ == "HashEmbedder"
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "router.md").write_text("# Router\n\nA router sends each token to a few experts.\n", encoding="utf-8")
    (pages / "tokenizer.md").write_text("# Tokenizer\n\nA tokenizer splits text into tokens.\n", encoding="utf-8")
    store = Store(settings)
    report = run_ingest([str(pages)], settings, store, embedder, progress=False)
    assert not report.failed
    hits = Engine(settings, store=store, embedder=embedder).search("what does a router send to experts?", 2)
    assert hits[0].chunk.title == "Router"


FAKE_FRONT_END = '''
    """A chat front end in one file: parse, ask through the shared service, render."""
    import click

    from kb.cli import with_settings


    @click.command()
    @click.argument("question")
    @with_settings
    def teams(settings, question):
        """Answer QUESTION as the Teams bot would.

        Example: kb teams "what is an MoE model?"
        """
        from kb.engine import Engine
        from kb.render import answer_text
        from kb.service import ask

        click.echo(answer_text(ask(Engine(settings), settings, question, via="teams")))
'''


def test_a_new_front_end_is_one_module_and_one_registry_line(tmp_path, monkeypatch, sample_store):
    import json
    import shutil

    from click.testing import CliRunner

    from kb.cli import FRONT_END_COMMANDS, cli

    module = _new_module(tmp_path, monkeypatch, "teams_front_end", FAKE_FRONT_END)
    monkeypatch.setitem(FRONT_END_COMMANDS, "teams", f"{module}:teams")  # the one registry line
    s, _, _ = sample_store
    store = tmp_path / "store-copy"  # the refusal log is written beside the store; the session store stays as it is
    shutil.copytree(s.store, store)
    assert "teams" in CliRunner().invoke(cli, ["--help"]).output
    result = CliRunner().invoke(cli, ["--store", str(store), "teams", "how do I bake sourdough bread?"])
    assert result.exit_code == 0, result.output
    assert "does not cover" in result.output
    # the shared service logged the refusal for `kb gaps`, tagged with this front end
    log = [json.loads(line) for line in (store / "gaps.jsonl").read_text().splitlines()]
    assert log[-1]["via"] == "teams" and log[-1]["question"] == "how do I bake sourdough bread?"


def test_the_llamaindex_query_engine_wraps_the_engine(sample_store, embedder):
    from kb.engine import Engine
    from kb.llamaindex import KbQueryEngine

    class Fixed:
        label = "fixed"

        def chat(self, messages, max_new_tokens):
            return "A mixture of experts model sends each token to only a few experts.", 14

    s, store, _ = sample_store
    engine = Engine(s, store=store, embedder=embedder, llm=Fixed())
    question = "What is a mixture of experts model?"
    response = KbQueryEngine.from_engine(engine).query(question)
    answer = response.metadata["answer"]
    direct = engine.ask(question)
    assert str(response) == answer.answer == direct.answer
    assert [c.to_dict() for c in answer.citations] == [c.to_dict() for c in direct.citations]
    assert {n.node.node_id for n in response.source_nodes} == {c.chunk_id for c in answer.citations}


@pytest.mark.parametrize("name", ["transformers", "llama-cpp", "onnx-genai", "openai"])
def test_every_registered_runtime_names_a_load_function(name):
    import importlib

    from kb.backends import LLM_RUNTIMES

    module, _, attr = LLM_RUNTIMES[name].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
