"""`kb eval` and `kb gaps`, registered into the `kb` command group through kb/cli.py's FRONT_END_COMMANDS.

Only click and kb.cli are imported here; the eval machinery loads inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kb.cli import json_option, with_settings


def eval_command(settings: Any, *, set_name: str, out: str | None, baseline: str | None, llms: tuple[str, ...],
                 limit: int | None, only: tuple[str, ...], history: str | None, store: str | None,
                 thresholds: str | None, seed: int, as_json: bool, replay: str | None = None) -> None:
    if replay:
        replay_command(settings, replay, out=out, store=store, as_json=as_json)
        return
    from eval.cases import resolve_set

    if Path(resolve_set(set_name)).stem == "claims":  # the checker's challenge set, not questions
        from eval.claims import claims_command

        claims_command(settings, resolve_set(set_name), Path(out) if out else None, as_json)
        return
    from eval.gate import load_thresholds
    from eval.report import summary_table
    from eval.runner import EvalOptions, run_eval

    opts = EvalOptions(set=set_name, out=Path(out) if out else None, baseline=Path(baseline) if baseline else None,
                       history=Path(history) if history else None, llms=llms, limit=limit, only=only,
                       store=Path(store) if store else None, thresholds=Path(thresholds) if thresholds else None,
                       seed=seed)
    outcome = run_eval(settings, opts)
    res = outcome.results
    if as_json:
        click.echo(json.dumps({"set": res["set"]["name"], "passed": outcome.passed, "commit": res["commit"],
                               "n_questions": res["n_questions"],
                               "metrics": {r["model"]: r["metrics"] for r in res["runs"]},
                               "failures": res["failures"], "outputs": {k: str(v) for k, v in outcome.paths.items()}},
                              indent=2))
    else:
        th = load_thresholds(opts.thresholds, res["set"]["name"])
        click.echo(f"kb eval {res['set']['name']}: {res['n_questions']} questions, "
                   f"{', '.join(res['models'])} ({res['seconds']}s)")
        click.echo(summary_table(res, th))
        click.echo(f"report: {outcome.paths['report_html']}  (also report.md, results.json, trend.png; "
                   f"history {outcome.paths['history']})")
    if not outcome.passed:
        lines = "\n".join(f"  {f.message()}" for f in outcome.failures)
        raise click.ClickException(f"eval {res['set']['name']} failed {len(outcome.failures)} check(s):\n{lines}")


def replay_command(settings: Any, results_path: str, *, out: str | None, store: str | None, as_json: bool) -> None:
    """`kb eval --replay RESULTS.json`: the run's drafts through today's pipeline, no model call."""
    from eval.replay import dumps, recorded_drafts, replay

    try:
        results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"--replay {results_path}: cannot read it as a results.json: {exc}") from None
    set_name, label, drafts = recorded_drafts(results)
    record = replay(settings, set_name, drafts, label, store=Path(store) if store else None)
    out_dir = Path(out) if out else Path("eval") / "out" / set_name
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "replay.json"
    path.write_text(dumps(record), encoding="utf-8")
    if as_json:
        click.echo(json.dumps({"set": set_name, "replay": str(path), "metrics": record["metrics"]}, indent=2))
    else:
        click.echo(f"kb eval --replay: {len(record['questions'])} questions of {set_name} replayed "
                   f"with the drafts of {label}; written to {path}")


def gaps_command(settings: Any, *, as_json: bool, limit: int, via: tuple[str, ...]) -> None:
    from eval.gaps import gaps_text, group_gaps, log_path, read_log

    path = log_path(settings)
    entries = [e for e in read_log(path) if not via or e.get("via") in via]
    gaps = group_gaps(entries)[:limit]
    if as_json:
        click.echo(json.dumps({"log": str(path), "refusals": len(entries), "gaps": [g.to_dict() for g in gaps]},
                              indent=2, ensure_ascii=False))
    else:
        click.echo(gaps_text(gaps))
        if entries:
            click.echo(f"({len(entries)} refusals logged in {path})")


@click.command("eval")
@click.option("--set", "set_name", default="sample", show_default=True,
              help="Eval set: a YAML file, or a bundled set name (sample, shared, realdocs, realdocs-holdout: read its "
              "totals only; claims scores the answer checker).")
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
@click.option("--replay", type=click.Path(dir_okay=False, exists=True),
              help="A results.json: answer its questions again with the drafts it recorded (no model call) "
              "and write replay.json (prompts, answers, scores) to compare pipelines.")
@json_option
@with_settings
def eval_(settings, eval_store, **opts):
    """Score kb's answers on an eval set; exit 1 when a gated metric regresses.

    Writes results.json, report.md, report.html and trend.png, and appends to history.jsonl.

    Example: kb eval --set shared --limit 5 --baseline eval/out/shared/results.json
    """
    eval_command(settings, store=eval_store, **opts)


@click.command()
@click.option("--limit", type=int, default=20, show_default=True, help="How many topics.")
@click.option("--via", multiple=True, help="Only refusals from this front end (cli, slack, eval; repeatable).")
@json_option
@with_settings
def gaps(settings, as_json, limit, via):
    """List the most-asked questions the knowledge base refused, grouped by topic.

    Example: kb gaps --via slack
    """
    gaps_command(settings, as_json=as_json, limit=limit, via=via)
