"""Decide whether a run passes: thresholds from eval/thresholds.toml, and drops against a baseline.

A baseline is a previous results.json. Its per-question records are
re-aggregated on exactly the questions of today's run (so a `--limit` run is
compared like with like), per model; a gated metric more than `margin` worse
fails the run, and the message names the questions that flipped.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.cases import EvalError
from eval.metrics import METRIC_BY_NAME, aggregate, failing_questions, flipped_questions

DEFAULT_THRESHOLDS = Path(__file__).resolve().parent / "thresholds.toml"


@dataclass
class Thresholds:
    gate_min: dict[str, float] = field(default_factory=dict)
    gate_max: dict[str, float] = field(default_factory=dict)
    advisory_min: dict[str, float] = field(default_factory=dict)
    advisory_max: dict[str, float] = field(default_factory=dict)
    margin: float = 0.05
    support_threshold: float = 0.6
    correct_min_fact_recall: float = 1.0

    @property
    def gated(self) -> list[str]:
        return [*self.gate_min, *self.gate_max]

    def limit(self, metric: str) -> tuple[str, float] | None:
        """('min'|'max', value, ) for a metric, gated first; None when it has no threshold."""
        for kind, table in (("min", self.gate_min), ("max", self.gate_max), ("min", self.advisory_min),
                            ("max", self.advisory_max)):
            if metric in table:
                return kind, table[metric]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"gate": {"min": self.gate_min, "max": self.gate_max},
                "advisory": {"min": self.advisory_min, "max": self.advisory_max},
                "margin": self.margin, "support_threshold": self.support_threshold,
                "correct_min_fact_recall": self.correct_min_fact_recall}


def load_thresholds(path: str | Path | None = None, set_name: str | None = None) -> Thresholds:
    path = Path(path) if path else DEFAULT_THRESHOLDS
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalError(f"{path}: cannot read thresholds: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise EvalError(f"{path}: not valid TOML: {exc}") from None
    layers = [data]
    if set_name and set_name in data.get("sets", {}):
        layers.append(data["sets"][set_name])
    th = Thresholds()
    for layer in layers:
        for section in ("gate", "advisory"):
            for bound in ("min", "max"):
                table = layer.get(section, {}).get(bound, {})
                for metric, value in table.items():
                    if metric not in METRIC_BY_NAME:
                        raise EvalError(f"{path}: [{section}.{bound}] names unknown metric {metric!r} "
                                           f"(known: {', '.join(METRIC_BY_NAME)})")
                    getattr(th, f"{section}_{bound}")[metric] = float(value)
        for key in ("margin", "support_threshold", "correct_min_fact_recall"):
            if key in layer:
                setattr(th, key, float(layer[key]))
    return th


@dataclass
class Failure:
    model: str
    metric: str
    value: float | None
    why: str
    questions: list[str]

    def message(self) -> str:
        label = METRIC_BY_NAME[self.metric].label
        value = "n/a" if self.value is None else f"{self.value:.3f}"
        qs = ", ".join(self.questions[:12]) + (f" (+{len(self.questions) - 12} more)" if len(self.questions) > 12
                                               else "")
        return f"[{self.model}] {self.metric} ({label}) = {value}: {self.why}" + (f"; questions: {qs}" if qs else "")

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "metric": self.metric, "value": self.value, "why": self.why,
                "questions": self.questions, "message": self.message()}


def check_run(model: str, records: dict[str, dict[str, Any]], metrics: dict[str, float | None], th: Thresholds,
              baseline: dict[str, dict[str, Any]] | None = None) -> list[Failure]:
    """Failures of one model's run: gated thresholds, then drops against the baseline records."""
    ids, recs = list(records), list(records.values())
    failures = []
    for metric, lo in th.gate_min.items():
        value = metrics.get(metric)
        if value is not None and value < lo:
            failures.append(Failure(model, metric, value, f"below threshold {lo:.3f}",
                                    failing_questions(recs, ids, metric)))
    for metric, hi in th.gate_max.items():
        value = metrics.get(metric)
        if value is not None and value > hi:
            failures.append(Failure(model, metric, value, f"above threshold {hi:.3f}",
                                    failing_questions(recs, ids, metric)))
    if baseline:
        common = {qid: rec for qid, rec in baseline.items() if qid in records}
        if common:
            before = aggregate(list(common.values()))
            for metric in th.gated:
                now, then = metrics.get(metric), before.get(metric)
                if now is None or then is None:
                    continue
                drop = (then - now) if METRIC_BY_NAME[metric].higher_is_better else (now - then)
                if drop > th.margin + 1e-9:
                    failures.append(Failure(model, metric, now,
                                            f"{drop:.3f} worse than baseline {then:.3f} (margin {th.margin:.2f})",
                                            flipped_questions(records, common, metric)))
    return failures


def load_baseline(path: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """{model label: {question id: record}} from a previous results.json."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {run["model"]: {q["id"]: q["scores"] for q in run["questions"]} for run in data["runs"]}
    except OSError as exc:
        raise EvalError(f"--baseline {path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise EvalError(f"--baseline {path}: not a kb eval results.json ({type(exc).__name__}: {exc})") from None
