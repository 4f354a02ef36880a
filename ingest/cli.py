"""`kb ingest`, registered into the `kb` command group through kb/cli.py's FRONT_END_COMMANDS.

Only click and kb.cli are imported here; the pipeline loads inside the command, so `kb --help` stays instant.
"""

from __future__ import annotations

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
    read; files a rule leaves out (images, --exclude) are listed but do not fail.

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
        from kb.backends import load_embedder

        return load_embedder(settings)

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
