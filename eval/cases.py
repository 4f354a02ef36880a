"""Eval sets: versioned YAML files loaded into dataclasses, checked on load.

A set names the corpus it is about and lists items. An answerable item carries
key facts (each a list of accepted alternatives, matched as case-insensitive
substrings), optional forbidden claims (case-insensitive regexes) and the page
suffixes it should be answered from; an out-of-scope item says `refuse: true`. An item with
`follow_up_of` (the earlier question, or a list, oldest first) is a follow-up in a conversation.
Bad input fails with the file and the item named, never deep inside a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import KbError

ROOT = Path(__file__).resolve().parent.parent  # the repository; set corpora are relative to it
SETS_DIR = Path(__file__).resolve().parent / "sets"
KINDS = ("definition", "comparison", "howto", "paraphrase", "out_of_scope")
ITEM_KEYS = {"id", "question", "kind", "facts", "forbidden", "sources", "refuse", "follow_up_of"}


class EvalError(KbError):
    """The eval cannot run as asked (bad thresholds, baseline, options); the message says why."""


class EvalSetError(EvalError):
    """An eval set file cannot be used; the message names the file and the item."""


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    kind: str
    facts: tuple[tuple[str, ...], ...] = ()
    forbidden: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    refuse: bool = False
    follow_up_of: tuple[str, ...] = ()  # earlier questions of the conversation: the question is a follow-up


@dataclass
class EvalSet:
    name: str
    path: Path
    corpus: str  # as written in the file
    cases: list[Case] = field(default_factory=list)

    @property
    def corpus_path(self) -> Path | None:
        """The corpus folder: relative to the repository root, else to the set file; None when absent."""
        for base in (ROOT, self.path.parent):
            candidate = (base / self.corpus).resolve()
            if candidate.exists():
                return candidate
        return None

    def require_corpus(self) -> Path:
        path = self.corpus_path
        if path is None:
            raise EvalSetError(f"{self.path}: corpus {self.corpus!r} not found (looked relative to {ROOT} and "
                               f"{self.path.parent})")
        return path


def resolve_set(name_or_path: str | Path) -> Path:
    """A set file path, or the name of a bundled set ('sample', 'shared', 'realdocs', 'realdocs-holdout', ...)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = SETS_DIR / f"{name_or_path}.yaml"
    if bundled.is_file():
        return bundled
    known = ", ".join(sorted(p.stem for p in SETS_DIR.glob("*.yaml")))
    raise EvalSetError(f"no eval set {str(name_or_path)!r}: give a YAML file or one of: {known}")


def load_set(path: str | Path) -> EvalSet:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalSetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise EvalSetError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_set(data, path)


def parse_set(data: Any, path: Path) -> EvalSet:
    if not isinstance(data, dict):
        raise EvalSetError(f"{path}: expected a mapping with name, corpus and items")
    for key in ("name", "corpus", "items"):
        if key not in data:
            raise EvalSetError(f"{path}: missing top-level key {key!r}")
    if not isinstance(data["items"], list) or not data["items"]:
        raise EvalSetError(f"{path}: 'items' must be a non-empty list")
    cases: list[Case] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["items"], start=1):
        case = parse_case(raw, path, index)
        if case.id in seen:
            raise EvalSetError(f"{path}: item {case.id!r}: duplicate id")
        seen.add(case.id)
        cases.append(case)
    return EvalSet(name=str(data["name"]), path=path, corpus=str(data["corpus"]), cases=cases)


def parse_case(raw: Any, path: Path, index: int) -> Case:
    if not isinstance(raw, dict):
        raise EvalSetError(f"{path}: item {index}: expected a mapping")
    if not isinstance(raw.get("id"), str) or not raw["id"].strip():
        raise EvalSetError(f"{path}: item {index}: 'id' must be a non-empty string")
    where = f"{path}: item {raw['id']!r}"

    def fail(msg: str) -> EvalSetError:
        return EvalSetError(f"{where}: {msg}")

    unknown = set(raw) - ITEM_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)} (allowed: {sorted(ITEM_KEYS)})")
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip():
        raise fail("'question' must be a non-empty string")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise fail(f"'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    refuse = raw.get("refuse", False)
    if not isinstance(refuse, bool):
        raise fail("'refuse' must be true or false")
    facts = _facts(raw.get("facts", []), fail)
    forbidden = _strings(raw.get("forbidden", []), "forbidden", fail)
    for pattern in forbidden:
        try:
            re.compile(pattern, re.I)
        except re.error as exc:
            raise fail(f"forbidden pattern {pattern!r} is not a valid regex: {exc}") from None
    sources = _strings(raw.get("sources", []), "sources", fail)
    earlier = raw.get("follow_up_of", [])
    follow_up_of = _strings([earlier] if isinstance(earlier, str) else earlier, "follow_up_of", fail)
    if refuse:
        if facts or sources:
            raise fail("a 'refuse: true' item cannot also have facts or sources")
    else:
        if not facts:
            raise fail("needs 'facts' (or 'refuse: true')")
        if not sources:
            raise fail("needs 'sources' (expected page suffixes)")
    if (kind == "out_of_scope") != refuse:
        raise fail("kind 'out_of_scope' and 'refuse: true' go together")
    return Case(id=raw["id"], question=question.strip(), kind=kind, facts=facts, forbidden=forbidden,
                sources=sources, refuse=refuse, follow_up_of=follow_up_of)


def _strings(value: Any, name: str, fail) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(f"'{name}' must be a list of non-empty strings")
    return tuple(value)


def _facts(value: Any, fail) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise fail("'facts' must be a list of facts, each a list of accepted alternatives")
    out = []
    for i, fact in enumerate(value, start=1):
        if isinstance(fact, str):  # a fact with a single accepted wording
            fact = [fact]
        if not isinstance(fact, list) or not fact or not all(isinstance(a, str) and a.strip() for a in fact):
            raise fail(f"fact {i} must be a non-empty list of non-empty strings")
        out.append(tuple(fact))
    return tuple(out)
