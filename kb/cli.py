"""The `kb` command line. Heavy modules are imported inside commands so --help is instant.

The core commands are declared here; a front end (ingest, eval, the Slack bot)
declares its own click commands in its own package and adds one line to
FRONT_END_COMMANDS. They are imported only when listed or run, so kb never
imports bot/, ingest/ or eval/ at module level.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import click

from kb.errors import KbError

# command name -> "module:attribute" of a click command
FRONT_END_COMMANDS: dict[str, str] = {
    "ingest": "ingest.cli:ingest",
    "sync": "ingest.cli:sync",
    "eval": "eval.cli:eval_",
    "gaps": "eval.cli:gaps",
    "slack": "bot.cli:slack",
    "feedback": "bot.cli:feedback",
}


class KbGroup(click.Group):
    """Turns kb's user-facing errors into one line and a non-zero exit, never a traceback;
    adds the front ends' commands (`lazy_commands`) when they are listed or run."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands if lazy_commands is not None else {}  # the live registry, not a copy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            import importlib

            module, _, attr = self.lazy_commands[cmd_name].partition(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KbError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - last line of defence: one line, not a traceback
            if ctx.params.get("verbose"):
                raise
            raise click.ClickException(
                f"unexpected error: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''} "
                "(run with -v for the traceback)"
            ) from None


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")(func)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def settings_from(ctx: click.Context):
    from kb.settings import load_settings

    if "settings" not in ctx.obj:
        ctx.obj["settings"] = load_settings(**ctx.obj["overrides"])
    return ctx.obj["settings"]


def with_settings(func):
    @click.pass_context
    @functools.wraps(func)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        return func(settings_from(ctx), *args, **kwargs)

    return wrapper


@click.group(cls=KbGroup, lazy_commands=FRONT_END_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", type=click.Path(file_okay=False), help="Store folder (env KB_STORE).")
@click.option("--chroma-url", help="Chroma server URL instead of the embedded store (env KB_CHROMA_URL).")
@click.option("--collection", help="Chroma collection (env KB_COLLECTION).")
@click.option("--embed-model", help="Embedding model (env KB_EMBED_MODEL).")
@click.option("--llm-model", help="Instruct model: HF id, folder or .gguf (env KB_LLM_MODEL).")
@click.option("--llm-url", help="OpenAI-compatible endpoint (env KB_LLM_URL).")
@click.option("-v", "--verbose", count=True, help="Log more (-vv for debug).")
@click.version_option(package_name="kb")
@click.pass_context
def cli(ctx: click.Context, verbose: int, **overrides: Any) -> None:
    """kb: answers from your team's glossary and guides, with checked citations.

    Example: kb ingest corpus/ && kb ask "why not deploy a base model?"
    """
    import logging
    import warnings

    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    if verbose == 0:
        warnings.filterwarnings("ignore")
        for noisy in ("bm25s", "transformers", "sentence_transformers", "chromadb", "httpx", "huggingface_hub"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        import os

        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    ctx.obj = {"overrides": overrides}


@cli.command()
@click.argument("question")
@click.option("--explain", is_flag=True, help="Show retrieved passages, scores and sentence checks.")
@click.option("--follow-up-of", "follow_up_of", multiple=True, metavar="EARLIER",
              help="QUESTION follows this earlier question (repeat for a longer conversation, oldest first); "
              "kb answers the standalone question it makes of them (--explain shows it).")
@click.option("--no-daemon", is_flag=True, help="Answer in this process even when `kb serve` is running.")
@json_option
@with_settings
def ask(settings, question, explain, follow_up_of, no_daemon, as_json):
    """Answer QUESTION from the knowledge base, with numbered citations.

    Uses a running `kb serve` for the same store (answers in about a second);
    otherwise loads the models in this process.

    Examples: kb ask "what is the difference between an instruct and an MoE model?"
              kb ask --follow-up-of "what is an instruct model?" "and how is MoE different?"
    """
    if not question.strip():
        raise click.UsageError("QUESTION is empty")
    earlier = [q.strip() for q in follow_up_of if q.strip()]
    if follow_up_of and not earlier:
        raise click.UsageError("--follow-up-of is empty: give the earlier question, e.g. "
                               "--follow-up-of \"what is an instruct model?\"")
    from kb.limits import check_question

    check_question(question, settings)
    for q in earlier:
        check_question(q, settings)
    if not no_daemon:
        from kb.serve import ask_daemon, daemon_token, find_daemon

        url = find_daemon(settings)
        reply = ask_daemon(url, question, explain, token=daemon_token(settings), follow_up_of=earlier) if url else None
        if reply is not None and earlier and "standalone_question" not in reply["json"]:
            reply = None  # a `kb serve` older than follow-ups answered the bare question: answer here instead
        if reply is not None:
            from kb.render import printable

            emit_json(reply["json"]) if as_json else click.echo(printable(reply["text"]))
            return

    from kb.engine import Engine
    from kb.render import answer_text
    from kb.service import answer_json
    from kb.service import ask as ask_question

    answer = ask_question(Engine(settings), settings, question, via="cli", follow_up_of=earlier)
    if as_json:
        emit_json({**answer_json(answer, explain), "via": "process"})
    else:
        click.echo(answer_text(answer, explain=explain))


@cli.command()
@click.option("--explain", is_flag=True, help="Also show the standalone question, passages and sentence checks.")
@json_option
@with_settings
def chat(settings, explain, as_json):
    """Ask questions one after another; each is answered as a follow-up of the ones before.

    Reads one question per line from stdin ("and how is MoE different?", "why?" work after a
    question); an empty line or `/new` starts a new conversation; Ctrl-D ends. With --json,
    prints one JSON object per answer (JSON Lines). Answers in this process (models load once).

    Example: kb chat   then: what's an instruct model?  /  and how is MoE different?
    """
    from kb.engine import Engine
    from kb.errors import QuestionTooLong
    from kb.limits import check_question
    from kb.render import answer_text, printable
    from kb.service import answer_json
    from kb.service import ask as ask_question

    engine = Engine(settings)
    engine.ensure_not_empty()
    interactive = sys.stdin.isatty()
    earlier: list[str] = []
    while True:
        try:
            line = input("kb> " if interactive else "")
        except EOFError:
            break
        question = line.strip()
        if not question or question == "/new":
            earlier = []
            continue
        try:
            check_question(question, settings)
        except QuestionTooLong as exc:
            click.echo(str(exc), err=True)
            continue
        answer = ask_question(engine, settings, question, via="cli", follow_up_of=earlier)
        earlier.append(question)
        if as_json:
            click.echo(json.dumps({**answer_json(answer, explain), "via": "process"}, ensure_ascii=False, default=str))
        else:
            if answer.follow_up_of and not explain:
                click.echo(printable(f"(read as: {answer.standalone})"))
            click.echo(answer_text(answer, explain=explain) + "\n")


@cli.command()
@json_option
@with_settings
def prepare(settings, as_json):
    """Convert the configured models once, so the first answer does not wait for it.

    Exports the embedder to ONNX (and its int8 form with KB_EMBED_BACKEND=onnx-int8), converts the
    bundled GGUF to safetensors and, with onnxruntime-genai installed, exports the
    LLM to int4 ONNX and checks it with a one-token generate (a failed export falls
    back to the transformers runtime).
    Everything lands in cache_dir; running it again takes about a second.
    `make demo` runs it at install time.

    Example: kb prepare
    """
    from kb.prepare import prepare as run_prepare

    report = run_prepare(settings, echo=(lambda _: None) if as_json else (lambda line: click.echo(line, err=True)))
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"kb prepare: ready; answers use the {report.llm_runtime} runtime")


@cli.command()
@click.option("--port", type=int, help="Loopback port (env KB_SERVE_PORT; default: any free port).")
@with_settings
def serve(settings, port):
    """Keep the models loaded and answer `kb ask` from this store in about a second.

    Listens on 127.0.0.1 and records its address in serve.json in the data folder;
    `kb ask` finds it there. Questions are queued and answered one at a time.

    Example: kb serve &  kb ask "what is an MoE model?"
    """
    from kb.serve import serve as run_server

    def ready(url: str) -> None:
        click.echo(f"kb serve: answering for {settings.chroma_url or settings.store} at {url} (Ctrl-C stops)",
                   err=True)

    try:
        run_server(settings, port=port, ready=ready)
    except KeyboardInterrupt:
        click.echo("kb serve: stopped", err=True)


@cli.command()
@click.argument("query")
@click.option("-k", "--top", "k", type=int, default=5, show_default=True, help="How many passages.")
@json_option
@with_settings
def search(settings, query, k, as_json):
    """Show the passages kb would retrieve for QUERY (no model is loaded).

    Example: kb search "mixture of experts router"
    """
    from kb.engine import Engine
    from kb.links import link_for
    from kb.render import hit_dict, hits_text

    hits = Engine(settings).search(query, k)
    urls = [link_for(h.chunk, settings.source_urls) for h in hits]  # the page on the web, as citations give it
    if as_json:
        emit_json({"query": query, "hits": [hit_dict(h, u) for h, u in zip(hits, urls, strict=True)]})
    else:
        click.echo(hits_text(hits, urls) or "no passages found")


@cli.command()
@json_option
@with_settings
def status(settings, as_json):
    """Show where the store is, what it holds and which models kb uses.

    Example: kb status --json
    """
    from kb.sources import sources_status, status_line
    from kb.store import Store

    store = Store(settings)
    chunks = store.all_chunks()
    pages = store.pages(chunks)
    info = {
        "store": store.location,
        "mode": "server" if settings.chroma_url else "embedded",
        "collection": settings.collection,
        "chunks": len(chunks),
        "pages": len(pages),
        "empty": not chunks,
        "incomplete_pages": sorted(s for s, p in pages.items() if not p.complete),
        "drift": _drift(pages),
        "embed_model": settings.embed_model,
        "embedder": _store_embedder(store, settings, bool(chunks)),
        "llm": settings.llm_url and f"{settings.llm_model} @ {settings.llm_url}" or settings.llm_model,
        "sources": sources_status(settings),  # `kb sync`: each source's last run
    }
    if as_json:
        emit_json(info)
        return
    for key in ("store", "mode", "collection", "pages", "chunks", "empty", "embed_model", "llm"):
        click.echo(f"{key:12} {info[key]}")
        if key == "embed_model":
            e = info["embedder"]
            click.echo(f"{'embedder':12} {e['model']} ({e['backend']}){'' if e['recorded'] else ' - ' + e['note']}")
    if info["empty"]:
        from kb.engine import empty_store_message

        message = empty_store_message(store.location, settings)
        click.echo(message[0].upper() + message[1:])
    for src in info["incomplete_pages"]:
        click.echo(f"incomplete  {src} (an ingest was interrupted; run kb ingest again)")
    for d in info["drift"]:
        click.echo(f"drift       {d['source']}: {d['why']}")
    for entry in info["sources"]:
        click.echo(f"source      {status_line(entry)}")


def _store_embedder(store, settings, has_chunks: bool) -> dict[str, Any]:
    """The embedder the store's vectors came from (recorded by ingest); for a store written before the record,
    the fp32 one kb assumes; for an empty store, the one its first ingest will use."""
    from kb.backends.vectors import LEGACY_BACKEND, auto_backend

    record = store.embedder_record()
    if record is not None:
        return {"model": record.model, "backend": record.backend, "recorded": True, "note": ""}
    if has_chunks:
        return {"model": settings.embed_model, "backend": LEGACY_BACKEND, "recorded": False,
                "note": "not recorded (ingested before kb recorded it): fp32 vectors assumed"}
    try:
        backend = auto_backend(settings) if settings.embed_backend == "auto" else settings.embed_backend
    except KbError:
        backend = settings.embed_backend
    return {"model": settings.embed_model, "backend": backend, "recorded": False,
            "note": "empty store: what the first ingest will use"}


def _drift(pages) -> list[dict[str, str]]:
    """Local pages whose file changed or vanished since they were ingested.

    A newer mtime alone is not drift (a checkout touches every file): the file's
    bytes are hashed and compared with the hash recorded at ingest.
    """
    import hashlib
    import os
    from datetime import UTC, datetime

    from kb.text import is_url

    out = []
    for src, rec in sorted(pages.items()):
        if is_url(src):
            continue
        if not os.path.exists(src):
            out.append({"source": src, "why": "source file is gone"})
            continue
        mtime = datetime.fromtimestamp(os.path.getmtime(src), tz=UTC).isoformat(timespec="seconds")
        if not rec.modified or mtime <= rec.modified:
            continue
        try:
            with open(src, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as exc:
            out.append({"source": src, "why": f"unreadable: {exc.strerror or exc}"})
            continue
        if digest != rec.content_hash:
            out.append({"source": src, "why": f"modified {mtime}, ingested version from {rec.modified}"})
    return out


@cli.group()
def config():
    """Inspect kb's settings."""


@config.command("show")
@json_option
@with_settings
def config_show(settings, as_json):
    """Print the effective settings (secrets hidden).

    Example: KB_TOP_K=6 kb config show
    """
    from kb.settings import front_end_settings, load_settings

    data = settings.describe()
    for cls in front_end_settings():  # the front ends' own settings (the Slack bot's), secrets hidden
        extra = load_settings(cls, **click.get_current_context().obj["overrides"]).describe()
        data.update({k: v for k, v in extra.items() if k not in data})
    if as_json:
        emit_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key:22} {value}")
