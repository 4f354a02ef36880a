"""`kb slack` and `kb feedback`, registered into the `kb` command group through kb/cli.py's FRONT_END_COMMANDS.

Only click is imported here; Bolt, the models and the store load inside the
commands, so `kb --help` stays instant.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import click


def _settings(ctx: click.Context):
    from kb.cli import settings_from

    return settings_from(ctx)


@click.command()
@click.option("--http", "http_mode", is_flag=True,
              help="Serve Slack's HTTP requests at /slack/events (the default when SLACK_APP_TOKEN is unset).")
@click.option("--port", type=int, default=3000, show_default=True, envvar="PORT", help="HTTP port (env PORT).")
@click.option("--host", default="0.0.0.0", show_default=True, help="HTTP address to listen on.")
@click.pass_context
def slack(ctx: click.Context, http_mode: bool, port: int, host: str) -> None:
    """Run the Slack bot: answers mentions, DMs and /kb in threads, with sources.

    With SLACK_APP_TOKEN set it connects out in Socket Mode (no public URL needed);
    otherwise, or with --http, it serves events, commands and interactivity at
    http://HOST:PORT/slack/events and checks each request's signature with
    SLACK_SIGNING_SECRET. SLACK_BOT_TOKEN is always needed. See docs/slack.md.

    Example: SLACK_BOT_TOKEN=xoxb-... SLACK_APP_TOKEN=xapp-... kb slack
    """
    from bot.app import check_settings, secret
    from bot.settings import load_slack_settings

    settings = load_slack_settings(**ctx.obj["overrides"])
    socket_mode = bool(secret(settings.slack_app_token)) and not http_mode
    check_settings(settings, socket_mode=socket_mode)  # before loading anything slow

    from bot.app import create_app
    from kb.answering import answering

    app = create_app(settings)
    with answering(settings.data_dir):  # `kb ingest` leaves the bot a core
        _serve(app, settings, socket_mode, host, port)


def _serve(app: Any, settings: Any, socket_mode: bool, host: str, port: int) -> None:
    """Answer Slack until Ctrl-C: over Socket Mode, or at http://HOST:PORT/slack/events."""
    from bot.app import connect_socket_mode, http_server, socket_mode_handler

    if socket_mode:
        handler = socket_mode_handler(app, settings)
        connect_socket_mode(handler)
        click.echo("kb is answering in Slack (Socket Mode). Ctrl-C stops it.", err=True)
        try:
            threading.Event().wait()
        finally:
            handler.close()
    else:
        try:
            server = http_server(app, host, port)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        click.echo(f"kb is answering Slack at http://{host}:{server.server_port}/slack/events. Ctrl-C stops it.",
                   err=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--unhelpful", is_flag=True, help="Only answers marked not helpful.")
@click.option("--as-eval-yaml", is_flag=True,
              help="Print the not-helpful questions as draft eval items (YAML) to paste under `items:`.")
@click.pass_context
def feedback(ctx: click.Context, as_json: bool, unhelpful: bool, as_eval_yaml: bool) -> None:
    """List the helpful / not-helpful votes given to the Slack bot's answers.

    Example: kb feedback --unhelpful --as-eval-yaml >> candidates.yaml
    """
    from bot.feedback import FeedbackStore, eval_yaml, feedback_path

    path = feedback_path(_settings(ctx))
    votes = FeedbackStore(path).votes(unhelpful_only=unhelpful or as_eval_yaml)
    if as_eval_yaml:
        click.echo(f"# Draft eval items from answers marked not helpful in Slack ({path}).\n"
                   "# Paste them under `items:` in an eval set and fill in what each needs.")
        click.echo(eval_yaml(votes), nl=False)
        return
    if as_json:
        click.echo(json.dumps({"path": str(path), "votes": votes}, indent=2, ensure_ascii=False))
        return
    if not votes:
        click.echo(f"no feedback yet ({path})", err=True)
        return
    for v in votes:
        mark = "helpful    " if v["helpful"] else "not helpful"
        answer = "(refused)" if v["refused"] else " ".join(v["answer"].split())
        click.echo(f"{v['time']}  {mark}  {v['user']:12} {v['question']}")
        click.echo(f"{'':27}-> {answer[:150]}{'…' if len(answer) > 150 else ''}")
    n_bad = sum(not v["helpful"] for v in votes)
    click.echo(f"{len(votes)} vote(s), {len(votes) - n_bad} helpful, {n_bad} not helpful ({path})")
