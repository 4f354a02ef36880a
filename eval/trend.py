"""The run history (one JSON line per run) and its plot, trend.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eval.metrics import METRIC_BY_NAME

TREND_METRICS = ["hit_at_3", "mrr", "fact_recall", "forbidden_rate", "citation_validity", "refusal_recall",
                 "refusal_precision", "correct", "citation_precision", "citation_recall", "latency_p50",
                 "tokens_per_s", "junk_rate", "first_fact_recall"]


def history_line(results: dict[str, Any]) -> dict[str, Any]:
    return {"date": results["date"], "commit": results["commit"], "dirty": results["dirty"],
            "set": results["set"]["name"], "n_questions": results["n_questions"], "partial": results["partial"],
            "passed": results["passed"], "models": {r["model"]: r["metrics"] for r in results["runs"]}}


def append_history(path: Path, line: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")


def read_history(path: Path) -> list[dict[str, Any]]:
    """History lines, oldest first; a damaged line is skipped, not fatal."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("models"), dict):
            out.append(item)
    return out


def draw_trend(history: list[dict[str, Any]], path: Path, th: Any = None,
               metrics: list[str] = TREND_METRICS) -> None:
    """One panel per metric, one line per model; partial runs (--limit/--only) hollow; thresholds dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    models = list(dict.fromkeys(m for line in history for m in line["models"]))
    ticks = [f"{line['date'][5:10]}\n{str(line.get('commit', ''))[:7]}" for line in history]
    for ax, name in zip(axes.flat, metrics, strict=False):
        metric = METRIC_BY_NAME[name]
        for model in models:
            xs = [i for i, line in enumerate(history) if (line["models"].get(model) or {}).get(name) is not None]
            ys = [history[i]["models"][model][name] for i in xs]
            if not xs:
                continue
            (drawn,) = ax.plot(xs, ys, "-", linewidth=1.2, label=model)
            full = [(x, y) for x, y in zip(xs, ys, strict=True) if not history[x].get("partial")]
            part = [(x, y) for x, y in zip(xs, ys, strict=True) if history[x].get("partial")]
            if full:
                ax.plot(*zip(*full, strict=True), "o", color=drawn.get_color(), markersize=4)
            if part:
                ax.plot(*zip(*part, strict=True), "o", color=drawn.get_color(), markersize=4, markerfacecolor="none")
        limit = th.limit(name) if th is not None else None
        if limit is not None:
            ax.axhline(limit[1], color="tab:red", linestyle="--", linewidth=0.8)
        ax.set_title(metric.label + (f" ({metric.unit})" if metric.unit else ""), fontsize=9)
        if not metric.unit:
            ax.set_ylim(-0.05, 1.05)
        ax.set_xticks(range(len(history)))
        step = -(-len(history) // 8)  # at most 8 labels, the newest run always labelled
        ax.set_xticklabels([t if (len(history) - 1 - i) % step == 0 else "" for i, t in enumerate(ticks)],
                           fontsize=6)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 4), fontsize=8,
                   frameon=False)
    set_name = history[-1]["set"] if history else ""
    fig.suptitle(f"kb eval {set_name}: {len(history)} runs (hollow: partial runs; dashed: threshold)", fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
