"""`kb ingest`, registered into the `kb` command group through kb/cli.py's FRONT_END_COMMANDS.

Only click and kb.cli are imported here; the pipeline loads inside the command, so `kb --help` stays instant.
"""

from __future__ import annotations

import json
import sys

import click

from kb.cli import emit_json, json_option, with_settings
from kb.text import is_url


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--prune", is_flag=True, help="Remove stored pages under PATHS whose source is gone.")
@click.option("--sitemap", "sitemaps", multiple=True, help="Also fetch every page listed in this sitemap URL.")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="Another host fetched URLs may redirect to (repeatable; env KB_FETCH_ALLOW_HOSTS). "
              "By default redirects stay on the URL's own host.")
@click.option("--wait", type=float, default=0, show_default=True,
              help="Seconds to wait for another ingest to finish before giving up (-1: as long as it takes).")
@click.option("--include", "include", multiple=True, metavar="GLOB",
              help="Inside folders, read only files matching GLOB (path in the folder or file name; repeatable).")
@click.option("--exclude", "exclude", multiple=True, metavar="GLOB",
              help="Inside folders, leave out files or folders matching GLOB (e.g. 'SOURCES.md', 'drafts/'; "
                   "repeatable).")
@json_option
@with_settings
def ingest(settings, paths, prune, sitemaps, allow_hosts, wait, include, exclude, as_json):
    """Ingest files, folders or URLs (.md .mdx .rst .qmd .Rmd .ipynb .html .htm .txt .pdf .docx) into the store.

    Re-running is cheap: unchanged pages are skipped before embedding. Every
    file under a folder is added, updated, unchanged or skipped with a reason
    (skipped counts by reason are printed). Exits 1 when a page could not be
    read; files a rule leaves out (images, --exclude) and a folder's pages with
    nothing to index (empty, a toctree only) are listed but do not fail.

    Example: kb ingest corpus/ docs/guide.mdx https://example.com/glossary.html --prune
    """
    from ingest.fetch import fetch_urls
    from ingest.pipeline import run_ingest
    from kb.store import Store

    if not paths and not sitemaps:
        raise click.UsageError("give at least one file, folder or URL (or --sitemap URL)")
    files = [p for p in paths if not is_url(p)]
    urls = [p for p in paths if is_url(p)]
    docs, failed = ([], [])
    if urls or sitemaps:
        docs, failed = fetch_urls(urls, sitemaps, timeout=settings.fetch_timeout, max_bytes=settings.max_page_bytes,
                                  allow_hosts=[*settings.fetch_allow_hosts, *allow_hosts])
    store = Store(settings)

    def embedder():
        from kb.answering import others_answering
        from kb.backends import load_embedder
        from kb.cpu import ingest_threads

        threads = ingest_threads(settings, answering=others_answering(settings.data_dir) > 0)
        return load_embedder(settings.model_copy(update={"threads": threads}), store=store)

    report = run_ingest(files, settings, store, embedder, prune=prune, wait=wait, extra_docs=docs,
                        extra_skipped=failed, include=include, exclude=exclude)
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
        by_reason = report.skipped_by_reason()
        if by_reason:
            click.echo("skipped by reason: " + "; ".join(f"{n} {why}" for why, n in by_reason.items()))
        for s in report.skipped:
            click.echo(f"  skipped {s.source}: {s.reason}", err=True)
    if report.failed:
        sys.exit(1)


@click.command()
@click.option("--every", metavar="DURATION", help="Run again every DURATION (90s, 30m, 1h, 1d) until stopped; "
              "without it, run once (for cron).")
@click.option("--runs", type=click.IntRange(min=1), help="With --every: stop after this many runs.")
@click.option("--source", "names", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@json_option
@with_settings
def sync(settings, every, runs, names, as_json):
    """Re-ingest the sources listed in kb.toml ([[sources]]), incrementally.

    Folders (a git clone is pulled first with git_pull = true), URLs and sitemaps, each
    with the include/exclude/allow_hosts options of kb ingest. Unchanged pages are not
    embedded again; a page whose file left a folder source is removed from the store.
    Each source's last run is shown by `kb status`. Exits 1 when a source failed
    (one run); with --every it keeps going. A running kb serve or Slack bot answers
    from the new pages at its next question.

    Example: kb sync --every 1h
    """
    import time

    from ingest.sync import sync_once
    from kb.sources import parse_duration, shown, status_line
    from kb.store import Store

    if not settings.sources:
        raise click.UsageError("no sources configured: add [[sources]] tables to kb.toml (or KB_SOURCES), "
                               "e.g. [[sources]] path = \"docs/\"; see docs/ingest.md")
    unknown = sorted(set(names) - {s.name for s in settings.sources})
    if unknown:
        raise click.UsageError(f"no source named {unknown[0]!r} (configured: "
                               f"{', '.join(s.name for s in settings.sources)})")
    try:
        interval = parse_duration(every) if every else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--every") from None
    store = Store(settings)
    model: list = []

    def embedder():  # loaded once, at the first page that needs embedding, then kept across runs
        if not model:
            from kb.backends import load_embedder

            model.append(load_embedder(settings, store=store))
        return model[0]

    done = 0
    while True:
        started = time.monotonic()
        entries = sync_once(settings, store, embedder, echo=lambda line: click.echo(line, err=True), names=names)
        done += 1
        failed = any(e["outcome"] != "ok" for e in entries)
        if as_json:
            click.echo(json.dumps({"sources": [shown(e) for e in entries], "failed": failed}, ensure_ascii=False,
                                  indent=None if interval else 2))
        else:
            for entry in entries:
                click.echo(status_line(entry))
        if interval is None:
            sys.exit(1 if failed else 0)
        if runs and done >= runs:
            return
        wait = max(0.0, interval - (time.monotonic() - started))
        click.echo(f"kb sync: next run in {wait:.0f}s (Ctrl-C stops)", err=True)
        time.sleep(wait)
