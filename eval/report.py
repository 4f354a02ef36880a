"""report.md and a self-contained report.html from a results dict (failing questions first)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from eval.metrics import CORRECT, METRICS, mean


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if unit else f"{value:.3f}"


def threshold_text(th: Any, name: str) -> tuple[str, str]:
    """('>= 0.850', 'gate'|'advisory'|'') for a metric."""
    limit = th.limit(name)
    if limit is None:
        return "", ""
    kind, value = limit
    return f"{'>=' if kind == 'min' else '<='} {value:.3f}", ("gate" if name in th.gated else "advisory")


def status(th: Any, name: str, value: float | None) -> str:
    limit = th.limit(name)
    if limit is None or value is None:
        return ""
    kind, bound = limit
    ok = value >= bound if kind == "min" else value <= bound
    return "ok" if ok else ("FAIL" if name in th.gated else "low")


def metric_rows(results: dict[str, Any], th: Any) -> tuple[list[str], list[list[str]]]:
    runs = results["runs"]
    header = ["metric", *[r["model"] for r in runs], "threshold", "kind"]
    rows = []
    for m in METRICS:
        cells = []
        for r in runs:
            value = r["metrics"].get(m.name)
            mark = status(th, m.name, value)
            cells.append(fmt(value, m.unit) + (f" ({mark})" if mark and mark != "ok" else ""))
        bound, kind = threshold_text(th, m.name)
        rows.append([m.label + (f" ({m.unit})" if m.unit else ""), *cells, bound, kind])
    return header, rows


KIND_COLUMNS = ("kind", "questions", "key-fact recall", "first-sentence recall", "citation precision", "refused")


def kind_rows(run: dict[str, Any]) -> list[list[str]]:
    """One row per kind of question (definition, comparison, how-to, ...; the set's `kind` field): where a set's
    scores are lost, so a maintainer sees which kind a change moved without reading every answer."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for q in run["questions"]:
        kinds.setdefault(q["kind"] or "-", []).append(q)
    rows = []
    for kind, qs in sorted(kinds.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        answerable = [q["scores"] for q in qs if not q["refuse"]]
        rows.append([kind, str(len(qs)), fmt(mean(x.get("fact_recall") for x in answerable)),
                     fmt(mean(x.get("first_fact_recall") for x in answerable)),
                     fmt(mean(x.get("citation_precision") for x in answerable)),
                     f"{sum(bool(q['scores']['refused']) for q in qs)} of {len(qs)}"])
    return rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(results: dict[str, Any], th: Any) -> str:
    return markdown_table(*metric_rows(results, th))


def problems(q: dict[str, Any]) -> list[str]:
    """What is wrong with one answered question, in words; [] when nothing is."""
    s = q["scores"]
    out = []
    if s["grade"] != CORRECT:
        if q["refuse"]:
            out.append("answered an out-of-scope question (should refuse)")
        elif s["refused"]:
            out.append("refused an answerable question")
    if s.get("missing_facts"):
        out.append("missing facts: " + "; ".join(" / ".join(f) for f in s["missing_facts"]))
    if s.get("junk_quotes"):
        out.append("junk quote: " + "; ".join(s["junk_quotes"]))
    if s.get("forbidden_found"):
        out.append("forbidden claim: " + "; ".join(s["forbidden_found"]))
    if not q["refuse"] and not s.get("hit_at_3"):
        where = f"rank {s['rank']}" if s.get("rank") else "not retrieved"
        out.append(f"expected page {where} (expected: {', '.join(q['sources'])})")
    if s.get("citation_validity") is not None and s["citation_validity"] < 1:
        bad = [f"[{c['id']}] {Path(c['source']).name}" for c in s.get("citations", []) if not c["valid"]]
        out.append("citations not from an expected page or quote not in passage: " + ", ".join(bad))
    unsupported = [x["text"] for x in s.get("sentences", []) if not x["supported"]]
    if unsupported:
        out.append(f"{len(unsupported)} sentence(s) without a supporting citation (advisory)")
    return out


def is_failing(q: dict[str, Any]) -> bool:
    s = q["scores"]
    return (s["grade"] != CORRECT or bool(s.get("forbidden_found")) or bool(s.get("junk_quotes"))
            or (not q["refuse"] and not s.get("hit_at_3"))
            or (s.get("citation_validity") is not None and s["citation_validity"] < 1))


def ordered(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(questions, key=lambda q: (not is_failing(q), q["scores"]["grade"] == CORRECT))


def header_lines(results: dict[str, Any]) -> list[str]:
    commit = results["commit"][:12] + (" (uncommitted changes)" if results["dirty"] else "")
    scope = f"{results['n_questions']} of {results['set']['items']} questions" if results["partial"] else \
        f"all {results['n_questions']} questions"
    return [f"set `{results['set']['name']}` ({scope}), corpus `{results['set']['corpus']}`",
            f"date {results['date']}, commit {commit}, {results['seconds']}s",
            f"models: {', '.join(results['models'])}; embedder {results['embed_model']}",
            f"baseline: {results['baseline'] or 'none'}"]


def write_markdown(results: dict[str, Any], path: Path, th: Any) -> None:
    lines = [f"# kb eval: {results['set']['name']}", ""]
    lines += [f"- {x}" for x in header_lines(results)]
    lines += ["", f"**{'PASSED' if results['passed'] else 'FAILED'}**", ""]
    for f in results["failures"]:
        lines.append(f"- {f['message']}")
    lines += ["", "## Metrics", "", summary_table(results, th), ""]
    for run in results["runs"]:
        lines += [f"## By kind of question: {run['model']}", "", markdown_table(list(KIND_COLUMNS), kind_rows(run)), ""]
    if len(results["runs"]) > 1:
        lines += ["## Grades side by side", "", _grades_table(results), ""]
    for run in results["runs"]:
        failing = [q for q in ordered(run["questions"]) if is_failing(q)]
        lines += [f"## Failing questions: {run['model']} ({len(failing)} of {len(run['questions'])})", ""]
        for q in failing:
            s = q["scores"]
            lines += [f"### {q['id']} ({q['kind']}, {s['grade']})", "", f"Q: {q['question']}", "",
                      "A: " + q["answer"]["answer"].replace("\n", " "), ""]
            lines += [f"- {p}" for p in problems(q)]
            for c in q["answer"]["citations"]:
                lines.append(f"- [{c['id']}] {Path(c['source']).name} ({c['section']}): \u201c{c['quote']}\u201d")
            lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def _grades_table(results: dict[str, Any]) -> str:
    runs = results["runs"]
    by_model = [{q["id"]: q for q in r["questions"]} for r in runs]
    rows = []
    for q in runs[0]["questions"]:
        rows.append([q["id"], q["kind"], *[m[q["id"]]["scores"]["grade"] if q["id"] in m else "" for m in by_model]])
    return markdown_table(["question", "kind", *[r["model"] for r in runs]], rows)


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}.FAIL{color:#b00;font-weight:600}.low{color:#a60}.ok{color:#070}
.q{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.8em 0}.q.bad{border-left:5px solid #c33}
.q.good{border-left:5px solid #3a3}.grade{font-weight:600}.problems{color:#900}
.quote{color:#444;font-style:italic}.answer{background:#fafafa;padding:.4em .6em;border-radius:4px}
.meta{color:#666;font-size:12px}.banner{font-size:20px;font-weight:700}
.pass{color:#070}.fail{color:#b00}img{max-width:100%}
"""


def write_html(results: dict[str, Any], path: Path, th: Any, trend: Path | None = None) -> None:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>kb eval {e(results['set']['name'])}"
             f"</title><style>{CSS}</style></head><body>",
             f"<h1>kb eval: {e(results['set']['name'])}</h1>", "<ul>"]
    parts += [f"<li>{e(x).replace('`', '')}</li>" for x in header_lines(results)]
    parts.append("</ul>")
    verdict = "PASSED" if results["passed"] else "FAILED"
    parts.append(f"<p class='banner {'pass' if results['passed'] else 'fail'}'>{verdict}</p>")
    if results["failures"]:
        parts.append("<ul>" + "".join(f"<li class='FAIL'>{e(f['message'])}</li>" for f in results["failures"])
                     + "</ul>")
    header, rows = metric_rows(results, th)
    parts.append("<h2>Metrics</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = []
        for cell in row:
            cls = "FAIL" if "(FAIL)" in cell else "low" if "(low)" in cell else ""
            cells.append(f"<td class='{cls}'>{e(cell)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    for run in results["runs"]:
        parts.append(f"<h2>By kind of question: {e(run['model'])}</h2><table><tr>"
                     + "".join(f"<th>{e(h)}</th>" for h in KIND_COLUMNS) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in kind_rows(run)]
        parts.append("</table>")
    if trend is not None and trend.is_file():
        data = base64.b64encode(trend.read_bytes()).decode()
        parts.append(f"<h2>Trend</h2><img alt='trend of every metric over the history' "
                     f"src='data:image/png;base64,{data}'>")
    for run in results["runs"]:
        qs = ordered(run["questions"])
        n_bad = sum(is_failing(q) for q in qs)
        parts.append(f"<h2>{e(run['model'])}: {n_bad} failing of {len(qs)} questions</h2>")
        for q in qs:
            parts.append(_question_html(q))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _question_html(q: dict[str, Any]) -> str:
    e = html.escape
    s, a = q["scores"], q["answer"]
    bad = is_failing(q)
    t = a.get("timings", {})
    meta = (f"{q['kind']}; mode {a.get('mode', '')}; retrieval rank {s.get('rank') or '-'}; "
            f"facts {fmt(s.get('fact_recall'))}; citation validity {fmt(s.get('citation_validity'))}; "
            f"total {t.get('total_s', 0)}s")
    out = [f"<div class='q {'bad' if bad else 'good'}'>" if bad else
           f"<details class='q good'><summary>{e(q['id'])}: <span class='grade'>{e(s['grade'])}</span> "
           f"\u2014 {e(q['question'])}</summary>"]
    if bad:
        out.append(f"<div><b>{e(q['id'])}</b>: <span class='grade'>{e(s['grade'])}</span> \u2014 "
                   f"{e(q['question'])}</div>")
    out.append(f"<div class='meta'>{e(meta)}</div><div class='answer'>{e(a['answer'])}</div>")
    probs = problems(q)
    if probs:
        out.append("<ul class='problems'>" + "".join(f"<li>{e(p)}</li>" for p in probs) + "</ul>")
    if a["citations"]:
        out.append("<ol class='cites'>")
        for c in a["citations"]:
            out.append(f"<li value='{int(c['id'])}'>{e(Path(c['source']).name)} \u2014 {e(c['section'])}: "
                       f"<span class='quote'>\u201c{e(c['quote'])}\u201d</span></li>")
        out.append("</ol>")
    if s.get("sentences"):
        out.append("<table><tr><th>sentence</th><th>cites</th><th>support</th></tr>")
        for x in s["sentences"]:
            sup = ", ".join(f"[{k}] {v:.2f}" for k, v in x["support"].items()) or "none"
            out.append(f"<tr><td>{e(x['text'])}</td><td>{e(str(x['cites']))}</td>"
                       f"<td class='{'ok' if x['supported'] else 'low'}'>{e(sup)}</td></tr>")
        out.append("</table>")
    if a.get("raw"):
        out.append(f"<details><summary>model draft</summary><pre>{e(a['raw'])}</pre></details>")
    out.append("</div>" if bad else "</details>")
    return "".join(out)
