"""The `kb` command line. Heavy modules are imported inside commands so --help is instant."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import click

from kb.errors import KbError


class KbGroup(click.Group):
    """Turns kb's user-facing errors into one line and a non-zero exit, never a traceback."""

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


@click.group(cls=KbGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.argument("paths", nargs=-1)
@click.option("--prune", is_flag=True, help="Remove stored pages under PATHS whose source is gone.")
@click.option("--sitemap", "sitemaps", multiple=True, help="Also fetch every page listed in this sitemap URL.")
@click.option("--wait", type=float, default=0, show_default=True,
              help="Seconds to wait for another ingest to finish before giving up (-1: as long as it takes).")
@json_option
@with_settings
def ingest(settings, paths, prune, sitemaps, wait, as_json):
    """Ingest files, folders or URLs (.md .mdx .html .htm .txt) into the store.

    Re-running is cheap: unchanged pages are skipped before embedding. Exits 1
    when a file or URL was skipped (each is listed with the reason).

    Example: kb ingest corpus/ docs/guide.mdx https://example.com/glossary.html --prune
    """
    from ingest.fetch import fetch_urls
    from ingest.pipeline import run_ingest
    from kb.store import Store

    if not paths and not sitemaps:
        raise click.UsageError("give at least one file, folder or URL (or --sitemap URL)")
    files = [p for p in paths if not p.startswith(("http://", "https://"))]
    urls = [p for p in paths if p.startswith(("http://", "https://"))]
    docs, failed = ([], [])
    if urls or sitemaps:
        docs, failed = fetch_urls(urls, sitemaps, timeout=settings.fetch_timeout, max_bytes=settings.max_page_bytes)
    store = Store(settings)

    def embedder():
        from kb.models import load_embedder

        return load_embedder(settings)

    report = run_ingest(files, settings, store, embedder, prune=prune, wait=wait, extra_docs=docs,
                        extra_skipped=failed)
    if as_json:
        emit_json(report.to_dict())
    else:
        c = report.to_dict()["counts"]
        click.echo(f"added {c['added']}, updated {c['updated']}, unchanged {c['unchanged']}, "
                   f"removed {c['removed']}, skipped {c['skipped']}, duplicates {c['aliases']} pages; "
                   f"{report.chunks_written} chunks written, {report.total_chunks} in the store; "
                   f"{report.boilerplate_lines} boilerplate lines dropped ({report.seconds:.1f}s)")
        for alias, kept in report.aliases.items():
            click.echo(f"  duplicate {alias}: near-copy of {kept}, recorded as its alias", err=True)
        for s in report.skipped:
            click.echo(f"  skipped {s.source}: {s.reason}", err=True)
    if report.failed:
        sys.exit(1)


@cli.command()
@click.argument("question")
@click.option("--explain", is_flag=True, help="Show retrieved passages, scores and sentence checks.")
@click.option("--no-daemon", is_flag=True, help="Answer in this process even when `kb serve` is running.")
@json_option
@with_settings
def ask(settings, question, explain, no_daemon, as_json):
    """Answer QUESTION from the knowledge base, with numbered citations.

    Uses a running `kb serve` for the same store (answers in about a second);
    otherwise loads the models in this process.

    Example: kb ask "what is the difference between an instruct and an MoE model?"
    """
    if not question.strip():
        raise click.UsageError("QUESTION is empty")
    if not no_daemon:
        from kb.serve import ask_daemon, find_daemon

        url = find_daemon(settings)
        reply = ask_daemon(url, question, explain) if url else None
        if reply is not None:
            emit_json(reply["json"]) if as_json else click.echo(reply["text"])
            return

    from kb.engine import Engine
    from kb.gaps import log_refusal
    from kb.render import answer_text, hit_dict

    engine = Engine(settings)
    answer = engine.ask(question)
    if answer.refused:
        log_refusal(settings, question, answer.closest_topics, via="cli")
    if as_json:
        out = answer.to_dict()
        out["via"] = "process"
        if explain:
            out["explain"] = {"hits": [hit_dict(h) for h in answer.hits], "raw": answer.raw, "mode": answer.mode,
                              "checks": [vars(c) for c in answer.checks]}
        emit_json(out)
    else:
        click.echo(answer_text(answer, explain=explain))


@cli.command()
@json_option
@with_settings
def prepare(settings, as_json):
    """Convert the configured models once, so the first answer does not wait for it.

    Exports the embedder to ONNX, converts the bundled GGUF to safetensors and, with
    onnxruntime-genai installed, exports the LLM to int4 ONNX and checks it with a
    one-token generate (a failed export falls back to the transformers runtime).
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
    from kb.render import hit_dict, hits_text

    hits = Engine(settings).search(query, k)
    if as_json:
        emit_json({"query": query, "hits": [hit_dict(h) for h in hits]})
    else:
        click.echo(hits_text(hits) or "no passages found")


@cli.command()
@json_option
@with_settings
def status(settings, as_json):
    """Show where the store is, what it holds and which models kb uses.

    Example: kb status --json
    """
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
        "llm": settings.llm_url and f"{settings.llm_model} @ {settings.llm_url}" or settings.llm_model,
    }
    if as_json:
        emit_json(info)
        return
    for key in ("store", "mode", "collection", "pages", "chunks", "empty", "embed_model", "llm"):
        click.echo(f"{key:12} {info[key]}")
    if info["empty"]:
        click.echo("The store is empty: run `kb ingest PATH...` to fill it.")
    for src in info["incomplete_pages"]:
        click.echo(f"incomplete  {src} (an ingest was interrupted; run kb ingest again)")
    for d in info["drift"]:
        click.echo(f"drift       {d['source']}: {d['why']}")


def _drift(pages) -> list[dict[str, str]]:
    """Local pages whose file changed or vanished since they were ingested.

    A newer mtime alone is not drift (a checkout touches every file): the file's
    bytes are hashed and compared with the hash recorded at ingest.
    """
    import hashlib
    import os
    from datetime import UTC, datetime

    out = []
    for src, rec in sorted(pages.items()):
        if src.startswith(("http://", "https://")):
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
    data = settings.describe()
    if as_json:
        emit_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key:22} {value}")


# The Slack bot's commands live beside the bot (bot/cli.py imports nothing heavy).
from bot.cli import feedback as _feedback_command  # noqa: E402
from bot.cli import slack as _slack_command  # noqa: E402

cli.add_command(_slack_command)
cli.add_command(_feedback_command)


@cli.command("eval")
@click.option("--set", "set_name", default="sample", show_default=True,
              help="Eval set: a YAML file, or a bundled set name (sample, shared).")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder  [default: eval/out/<set>]")
@click.option("--baseline", type=click.Path(dir_okay=False), help="A previous results.json: fail on drops below it.")
@click.option("--llm", "llms", multiple=True, help="LLM to evaluate (model id, folder, .gguf, or MODEL@URL); "
              "repeat for a side-by-side table.  [default: the configured LLM]")
@click.option("--limit", type=int, help="Only the first N questions (a quick run).")
@click.option("--only", multiple=True, help="Only the question with this id (repeatable).")
@click.option("--history", type=click.Path(dir_okay=False), help="History file to append to  "
              "[default: <out>/history.jsonl]")
@click.option("--store", "eval_store", type=click.Path(file_okay=False),
              help="Answer from this store (the set's corpus is ingested into it) instead of a fresh temporary one.")
@click.option("--thresholds", type=click.Path(dir_okay=False), help="Gate file  [default: eval/thresholds.toml]")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@json_option
@with_settings
def eval_(settings, eval_store, **opts):
    """Score kb's answers on an eval set; exit 1 when a gated metric regresses.

    Writes results.json, report.md, report.html and trend.png, and appends to history.jsonl.

    Example: kb eval --set shared --limit 5 --baseline eval/out/shared/results.json
    """
    from eval.cli import eval_command

    eval_command(settings, store=eval_store, **opts)


@cli.command()
@click.option("--limit", type=int, default=20, show_default=True, help="How many topics.")
@click.option("--via", multiple=True, help="Only refusals from this front end (cli, slack, eval; repeatable).")
@json_option
@with_settings
def gaps(settings, as_json, limit, via):
    """List the most-asked questions the knowledge base refused, grouped by topic.

    Example: kb gaps --via slack
    """
    from eval.cli import gaps_command

    gaps_command(settings, as_json=as_json, limit=limit, via=via)
