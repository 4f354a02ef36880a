"""Generate kb's drafts for every eval question, plain and with the source-words mask.

The raw material of eval/sets/claims.yaml: for each answerable question of each eval
set, the real focused prompt (kb.prompt.prompt), the source sentences it shows, the
plain greedy draft (taken from an earlier `kb eval` results.json when given, else
generated) and the masked draft (kb.constrain), and what kb's checker said about each
draft sentence today. Labels are not made here: they come from reading.

    KB_CACHE_DIR=/work/cache/wt18 python -m eval.make_claims --out /work/cache/wt18/drafts.json \
        --plain sample=/work/cache/baseline/sample/results.json --plain shared=...

Slow (one 135M generation per question and mode, on the CPU); run once, replay after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any


def _plain_drafts(specs: list[str]) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not Path(path).is_file():
            continue
        res = json.loads(Path(path).read_text(encoding="utf-8"))
        for q in res["runs"][0]["questions"]:
            if q["answer"].get("raw"):
                out[(name, q["id"])] = q["answer"]["raw"]
    return out


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "build":
        build(argv[1:])
    elif argv and argv[0] == "append":
        append(argv[1:])
    elif argv and argv[0] == "share":
        share(argv[1:])
    else:
        generate(argv[1:] if argv and argv[0] == "generate" else argv)


def generate(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--sets", nargs="+", default=["sample", "shared"])
    ap.add_argument("--plain", action="append", default=[], help="SET=results.json of an earlier kb eval")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--modes", nargs="+", default=["plain", "constrained"],
                    help="plain only from --plain files unless 'plain-generate' is given")
    args = ap.parse_args(argv)

    from eval.cases import load_set, resolve_set
    from ingest.pipeline import run_ingest
    from kb.backends.registry import load_embedder, load_llm
    from kb.cite import compose
    from kb.constrain import constrained_chat
    from kb.engine import Engine
    from kb.prompt import prompt
    from kb.retrieve import question_terms
    from kb.settings import Settings
    from kb.store import Store
    from kb.verify import Checker

    settings = Settings(llm_runtime="transformers")
    out_path = Path(args.out)
    done: dict[str, Any] = json.loads(out_path.read_text()) if out_path.is_file() else {}
    plain = _plain_drafts(args.plain)
    embedder = load_embedder(settings)
    llm = load_llm(settings) if {"constrained", "plain-generate"} & set(args.modes) else None
    engines: dict[str, Any] = {}
    queue: list[list[tuple[str, Any]]] = []
    for set_name in args.sets:
        evalset = load_set(resolve_set(set_name))
        corpus = evalset.corpus_path
        if corpus is None:
            print(f"skip {set_name}: corpus absent")
            continue
        store_dir = settings.cache_dir / f"claims-store-{set_name}"
        st = settings.model_copy(update={"store": store_dir, "chroma_url": None})
        store = Store(st)
        run_ingest([str(corpus)], st, store, embedder, progress=False)
        engines[set_name] = Engine(st, store=store, embedder=embedder, llm=llm)
        queue.append([(set_name, c) for c in evalset.cases if not c.refuse][: args.limit])
    # round-robin over the sets, so a run cut short still has questions from each
    order = [q[i] for i in range(max(map(len, queue), default=0)) for q in queue if i < len(q)]
    for set_name, case in order:
        engine = engines[set_name]
        st = engine.settings
        key = f"{set_name}/{case.id}"
        old = done.get(key, {})
        want = [m for m in ("plain", "constrained") if m in args.modes or f"{m}-generate" in args.modes]
        if old.get("refused") or (old and all(m in old["drafts"] for m in want)):
            continue
        hits = engine.search(case.question)
        if not hits or max(h.dense for h in hits) < st.min_relevance:
            done[key] = {"set": set_name, "id": case.id, "question": case.question, "refused": True}
            continue
        checker = Checker(embedder, hits)
        terms = question_terms(case.question)
        messages, focus = prompt(case.question, hits, checker, terms, True)
        assert focus is not None
        raws: dict[str, str] = {}
        if "plain" in want and (set_name, case.id) in plain:
            raws["plain"] = plain[(set_name, case.id)]
        elif "plain-generate" in args.modes:
            raws["plain"] = llm.chat(messages, st.max_new_tokens)[0]
        if "constrained" in want and "constrained" not in old.get("drafts", {}):
            raws["constrained"] = constrained_chat(llm, messages, [s.text for s in focus], st.max_new_tokens)[0]
        rec: dict[str, Any] = {"set": set_name, "id": case.id, "question": case.question, "refused": False,
                               "focus": [{"text": s.text, "hit": s.hit_index, "source": hits[s.hit_index].chunk.source,
                                          "title": hits[s.hit_index].chunk.title,
                                          "section": hits[s.hit_index].chunk.section} for s in focus],
                               "drafts": old.get("drafts", {})}
        for mode, raw in raws.items():
            checks = compose(case.question, raw, hits, checker, terms, st.min_support, focus,
                             st.min_coverage).checks
            rec["drafts"][mode] = {"raw": raw, "checks": [
                {"sentence": c.text, "status": c.action, "score": c.support, "reason": c.reason,
                 "matched": _matched(checker, c.text)}
                for c in checks if c.action != "quoted"]}
        done[key] = rec
        out_path.write_text(json.dumps(done, indent=1, ensure_ascii=False), encoding="utf-8")
        print(key, "|", " || ".join(r[:140].replace("\n", " ") for r in raws.values()), flush=True)
    out_path.write_text(json.dumps(done, indent=1, ensure_ascii=False), encoding="utf-8")


def _matched(checker: Any, sentence: str) -> str:
    """The source sentence the checker matched (kept or not): the candidate a reader labels against."""
    sup = checker.support(sentence)
    return sup.source.text if sup.source is not None else ""


# -- rule edits ------------------------------------------------------------------------------
# Each rule turns a source sentence into a sentence made of (nearly) the source's own words
# that says something else, or (rules marked True) something the source still says.
import re  # noqa: E402

COPULA = re.compile(r"^(?P<subj>[A-Z][^,;:()]{2,60}?) (?P<verb>is|are) (?P<pred>(?:a|an|the) [^,;:]+?)"
                    r"(?P<rest>[,;.(]|\s(?=(?:that|which|who|with|used|trained|to|for|in)\b))")
MAIN_VERB = re.compile(r"^(?P<subj>[A-Z][^,;:()]{2,60}?) (?P<verb>is|are|can|has|have|uses?|needs?|learns?|"
                       r"predicts?|completes?|follows?|activates?|sends?|runs?|produces?|makes?|adds?|stores?|"
                       r"reduces?|answers?|means?|refers?) (?P<rest>.+)$")
# real documentation says more with other verbs ('supports', 'lets', 'requires'): its rule edits use these too
DOC_MAIN_VERB = re.compile(MAIN_VERB.pattern.replace("refers?)", "refers?|supports?|provides?|allows?|requires?|"
                           "includes?|lets?|enables?|improves?|splits?|loads?|saves?|trains?|generates?|converts?|"
                           "applies|apply|computes?|defines?|describes?|contains?|helps?|keeps?|handles?|creates?|"
                           "returns?|takes?|gives?|changes?|depends?|offers?|performs?|shards?|stores?|fits?|"
                           "increases?|decreases?|lowers?|speeds?|trades?|replaces?|combines?|measures?)"))
NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
WORD_NUMBERS = {"two": "three", "three": "five", "four": "two", "five": "ten", "ten": "five", "once": "twice",
                "half": "a quarter", "hundreds": "dozens", "thousands": "hundreds", "millions": "thousands",
                "billions": "millions", "billion": "million", "million": "billion", "trillion": "billion"}
QUANTITY = [("a few", "many"), ("only a few", "most"), ("few", "many"), ("most", "a few"), ("many", "few"),
            ("all", "only some"), ("every", "only one"), ("always", "sometimes"), ("several", "one"),
            ("some", "all"), ("fewer", "more"), ("more", "fewer"), ("a small", "a large"), ("large", "small"),
            ("less", "more"), ("higher", "lower"), ("lower", "higher")]
NEGATE = [(" is also ", " is not "), (" are also ", " are not "), (" is ", " is not "), (" are ", " are not "),
          (" can ", " cannot "), (" does not ", " does "),
          (" do not ", " do "), (" is not ", " is "), (" are not ", " are "), (" cannot ", " can "),
          (" has ", " does not have "), (" needs ", " does not need "), (" uses ", " does not use ")]
SWAP = re.compile(r"\b(?P<a>\w+) (?P<op>rather than|instead of|than|into|from|to) (?P<b>\w+)(?=[.,;])")


def _sub_once(text: str, old: str, new: str) -> str | None:
    m = re.search(rf"(?<![\w-]){re.escape(old.strip())}(?![\w-])", text, flags=re.I)
    if not m:
        return None
    rep = new.strip()
    if m.group(0)[0].isupper():
        rep = rep[:1].upper() + rep[1:]
    return text[:m.start()] + rep + text[m.end():]


def _lower_first(text: str) -> str:
    """'Some models ...' -> 'some models ...' after ', and'; a name ('MoE', 'BLIS') stays as written."""
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if len(text) > 1 and (len(first) == 1 or first[1:].islower()) else text


NOT_IN_SUBJECT = {"to", "when", "if", "though", "that", "which", "where", "because", "only"}
IMPERATIVE = {"See", "Avoid", "Use", "Run", "Make", "Set", "Check", "Read", "Install", "Try", "Note", "Start", "Keep",
              "Pick", "Choose", "Add", "Do"}


def rule_edits(sent: str, others: list[str], main_verb: re.Pattern[str] = MAIN_VERB
               ) -> list[tuple[str, str, bool, str]]:
    """(edited sentence, rule, label, error type) for one source sentence; `others` are the
    other source sentences of the same context (merges, swaps of subject and predicate)."""
    out: list[tuple[str, str, bool, str]] = []
    if "\n" in sent or len(sent.split()) < 6:
        return out
    m = NUMBER.search(sent)
    if m:
        n = m.group(0)
        new = str(int(float(n) * 10)) if "." not in n else str(float(n) * 2)
        out.append((sent[:m.start()] + new + sent[m.end():], "number", False, "number"))
    else:
        for w, v in WORD_NUMBERS.items():
            edited = _sub_once(sent, w, v)
            if edited:
                out.append((edited, "number-word", False, "number"))
                break
    for w, v in QUANTITY:
        edited = _sub_once(sent, w, v)
        if edited:
            out.append((edited, "quantity", False, "quantity"))
            break
    for w, v in NEGATE:
        if w in sent:
            out.append((sent.replace(w, v, 1), "negation", False, "negation"))
            break
    sm = SWAP.search(sent)
    if sm and sm.group("a").lower() != sm.group("b").lower() \
            and sm.group("a").lower() not in ("more", "less", "rather"):
        out.append((sent[:sm.start()] + f"{sm.group('b')} {sm.group('op')} {sm.group('a')}" + sent[sm.end():],
                    "swap", False, "swap"))
    cm = COPULA.match(sent)
    mv = main_verb.match(sent)
    if mv and (mv.group("subj").lower() in ("the", "a", "an", "this", "it", "we", "you")
               or set(mv.group("subj").lower().split()) & NOT_IN_SUBJECT
               or mv.group("subj").split()[0] in IMPERATIVE):
        mv = None  # 'The use of X is ...' read as subject 'The' and verb 'use', 'See the section to learn ...':
        # no subject to swap
    for other in others:
        om = COPULA.match(other)
        if cm and om and om.group("pred").lower() != cm.group("pred").lower() \
                and om.group("subj").lower() != cm.group("subj").lower():
            out.append((sent[:cm.start("pred")] + om.group("pred") + sent[cm.end("pred"):], "predicate", False,
                        "predicate"))
            break
    for other in others:
        om = main_verb.match(other)
        if mv and om and om.group("subj").lower() != mv.group("subj").lower() and \
                om.group("subj").split()[-1].lower() != mv.group("subj").split()[-1].lower():
            out.append((om.group("subj") + sent[mv.end("subj"):], "subject", False, "subject"))
            # the first half of this sentence with the second half of another: a wrong merge
            out.append((f"{mv.group('subj')} {om.group('verb')} {om.group('rest')}", "merge-wrong", False, "merge"))
            # a trailing clause taken from the other sentence
            out.append((sent.rstrip(".") + f", which {om.group('verb')} {om.group('rest').rstrip('.')}.",
                        "trailing", False, "trailing"))
            break
    for other in others:
        if other != sent and "\n" not in other and len(other.split()) >= 6:
            # two supported sentences joined: true when both parts are cited
            joined = sent.rstrip(".") + ", and " + _lower_first(other)
            out.append((joined, f"merge-true:{others.index(other)}", True, ""))
            break
    if mv:
        subj = mv.group("subj")
        words = sorted((w for w in re.findall(r"\b[a-z][a-z-]{4,}\b", mv.group("rest"))
                        if not w.endswith(("ed", "ly", "ing")) and w not in ("rather", "about", "other", "their",
                                                                               "which", "there", "where", "these")),
                       key=len, reverse=True)[:1]
        if words:
            out.append((f"{subj} {mv.group('verb') if mv.group('verb') in ('is', 'are') else 'is'} related to the "
                        f"{words[0]}.", "vacuous", False, "vacuous"))
        out.append((f"{subj} can be used for {_lower_first(subj)}.", "vacuous-echo", False, "vacuous"))
    short = re.sub(r"\s*\([^)]*\)", "", sent)
    if short != sent:
        out.append((short, "drop-aside", True, ""))
    head = re.match(r"^(.{30,}?), (?:using|which|so|because|while|but|and|for example|such as)\b", sent)
    if head:
        out.append((head.group(1) + ".", "first-clause", True, ""))
    pp = TRAILING_PHRASE.search(sent)
    if pp and len(sent[:pp.start()].split()) >= 6:
        out.append((sent[:pp.start()] + sent[pp.end():], "drop-phrase", True, ""))
    return [e for e in out if e[0] != sent]  # '0.1M' read as the number 0: no edit at all


# a short prepositional phrase that ends its sentence: ' during training.' (a detail a reader may drop)
TRAILING_PHRASE = re.compile(r" (?:in|on|with|during|from|at|by|across|within|via|through|over|per)"
                             r" (?:the |a |an |each |your )?[\w-]+(?: [\w-]+)?(?=[.!?]\s*$)")


# -- building the set ---------------------------------------------------------------------------------
def _id(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:10]


def candidates(drafts: dict[str, Any], repo: Path, shared: Path) -> list[dict[str, Any]]:
    """Every draft sentence worth labelling and every rule edit, with ids; no labels yet."""
    from kb.text import WORD

    out: list[dict[str, Any]] = []
    edited: set[str] = set()
    for key, rec in drafts.items():
        if rec.get("refused"):
            continue
        ctx_sents = [f["text"] for f in rec["focus"]]
        seen: set[str] = set()
        for mode in ("plain", "constrained"):
            for chk in rec.get("drafts", {}).get(mode, {}).get("checks", []):
                sent = chk["sentence"].strip()
                if len(WORD.findall(sent)) < 5 or not re.search(r"[.!)\"']\s*$", sent) or sent.endswith("?"):
                    continue  # fragments, questions and cut-off sentences are not claims
                if sent in seen or (rec["set"] != "sample" and _copies(sent, ctx_sents)):
                    continue  # a masked draft can copy a seed page's sentence: those are not stored
                seen.add(sent)
                cites = [ctx_sents.index(chk["matched"])] if chk["matched"] in ctx_sents else []
                out.append({"id": f"{key}/{mode[0]}{_id(sent)}", "context": key, "origin": mode, "sentence": sent,
                            "cites": cites, "before": chk["status"], "reason": chk["reason"]})
        if rec["set"] != "sample":
            continue  # edits only of our own pages' sentences
        for i, src in enumerate(ctx_sents):
            if src in edited:
                continue
            edited.add(src)
            others = [s for s in ctx_sents if s != src]
            for text, rule, label, err in rule_edits(src, others):
                out.append(_rule_item(key, i, src, others, ctx_sents, text, rule, label, err))
    return _sample_rules(out)


# Rule edits kept per rule (chosen by a hash of the item id): enough of each kind to score it,
# few enough to read every one.
RULE_CAPS = {"merge-true": 40, "negation": 40, "vacuous": 25, "vacuous-echo": 15, "subject": 40, "merge-wrong": 40,
             "trailing": 40, "quantity": 40, "first-clause": 30, "drop-aside": 16, "predicate": 16, "number": 17,
             "number-word": 10, "swap": 6}


def _sample_rules(items: list[dict[str, Any]], caps: dict[str, int] | None = None) -> list[dict[str, Any]]:
    seen: set[str] = set()
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        if it["origin"] == "rule" and it["sentence"] not in seen:
            seen.add(it["sentence"])
            by_rule.setdefault(it["rule"], []).append(it)
    keep = {it["id"] for rule, its in by_rule.items()
            for it in sorted(its, key=lambda x: hashlib.sha1(x["id"].encode()).hexdigest())
            [:(caps or RULE_CAPS).get(rule, 20)]}
    out, ids = [], set()
    for it in items:
        if it["id"] not in ids and (it["origin"] != "rule" or it["id"] in keep):
            ids.add(it["id"])
            out.append(it)
    return out


def _copies(sentence: str, sources: list[str], n: int = 6) -> bool:
    """Whether the sentence repeats n words in a row of one of the sources."""
    def grams(text: str) -> set[tuple[str, ...]]:
        w = re.findall(r"[a-z0-9]+", text.lower())
        return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}

    mine = grams(sentence)
    return any(mine & grams(src) for src in sources)


def context_block(rec: dict[str, Any], repo: Path, shared: Path) -> dict[str, Any] | None:
    """The context as stored: our pages' sentences as text, ../shared sentences as references."""
    passages: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for f in rec["focus"]:
        source = Path(f["source"])
        own = source.is_relative_to(repo) if source.is_absolute() else True
        k = (f["source"], f["section"])
        if k not in by_key:
            if own:
                block = {"source": str(source.relative_to(repo)) if source.is_absolute() else f["source"],
                         "title": f["title"], "section": f["section"], "sentences": []}
            else:
                page_text = source.read_text(encoding="utf-8", errors="replace")
                block = {"source": source.name, "title": _ref(page_text, f["title"], source.name),
                         "section": _ref(page_text, f["section"], source.name), "sentences": []}
            by_key[k] = block
            passages.append(block)
        if own:
            by_key[k]["sentences"].append(f["text"])
        else:
            ref = _ref(source.read_text(encoding="utf-8", errors="replace"), f["text"], source.name)
            if ref is None:
                return None
            by_key[k]["sentences"].append(ref)
    return {"question": rec["question"], "passages": passages}


def _ref(page_text: str, text: str, page: str) -> dict[str, Any] | None:
    from eval.claims import text_ref

    if not text:
        return None
    ref = text_ref(page_text, text)
    return {"root": "shared", "page": page, **ref} if ref else None


def read_labels(path: Path) -> dict[str, tuple[bool, str] | None]:
    """Lines 'ID T', 'ID F error-type' or 'ID S' (ambiguous: left out), '#' comments: the reader's labels.

    IDs may be given without their context prefix. A rule edit without a line keeps its
    rule's label: every rule edit was read, and a line written where the rule was wrong."""
    out: dict[str, tuple[bool, str] | None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        out[parts[0]] = (parts[1] == "T", parts[2] if len(parts) > 2 else "") if parts[1] != "S" else None
    return out


HEADER = """# kb's checker challenge set (issue 18): `kb eval --set claims`.
# Items: sentences from kb's own drafts on the eval sets (origin plain / constrained:
# eval/make_claims.py) and edits made by rule from the sample corpus's sentences (origin rule),
# each with the source sentences the model was shown (its context) and the ones it cites.
# Labels come from reading each sentence against its context (rule: docs/eval.md).
# Split: an item is held-out when the first byte of sha1(context id) is even, else dev
# (eval/claims.py split_of); the checker is tuned on dev only.
# Contexts from ../shared pages store references (page, offset, length, sha1), not text.
# Items marked `added: c18` come from a second generator run, labelled before the checker saw them.
# Items marked `added: c18b` are about ../shared/realdocs (real documentation): masked drafts for realdocs
# questions and rule edits of its sentences, labelled before the checker saw them. Their contexts and
# sentences are word references (`words`: runs of a page's words, `seps`: the marks between words, `sha1`),
# rebuilt at load time and skipped when the folder is absent or the page changed; nothing of a page is copied.
"""


def build(argv: list[str]) -> None:
    """Candidates (no labels) to --candidates; with --labels, the labelled set to --out."""
    import yaml

    ap = argparse.ArgumentParser()
    ap.add_argument("--drafts", required=True, nargs="+", help="generate's outputs; later files win")
    ap.add_argument("--candidates", required=True)
    ap.add_argument("--labels")
    ap.add_argument("--out", default="eval/sets/claims.yaml")
    args = ap.parse_args(argv)
    from eval.cases import ROOT

    drafts: dict[str, Any] = {}
    for f in args.drafts:
        for key, rec in json.loads(Path(f).read_text(encoding="utf-8")).items():
            if key not in drafts or rec.get("drafts") or rec.get("refused"):
                drafts[key] = rec
    shared = (ROOT / "../shared/corpus").resolve()
    cands = candidates(drafts, ROOT, shared)
    contexts = {}
    for key, rec in drafts.items():
        if not rec.get("refused"):
            block = context_block(rec, ROOT, shared)
            if block is not None:
                contexts[key] = block
    cands = [c for c in cands if c["context"] in contexts]
    Path(args.candidates).write_text(json.dumps(cands, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"{len(cands)} candidates in {len(contexts)} contexts")
    if not args.labels:
        return
    labels = read_labels(Path(args.labels))
    items = []
    for c in cands:
        short = c["id"].rsplit("/", 1)[-1]
        given = labels.get(c["id"], labels.get(short, "absent"))
        if given == "absent" and c["origin"] == "rule":
            given = (c["label"], c["error"])
        if given is None or given == "absent":
            continue
        label, err = given  # type: ignore[misc]
        item = {"id": c["id"], "context": c["context"], "origin": c["origin"], "sentence": c["sentence"],
                "cites": c["cites"], "label": label}
        if not label:
            item["error"] = err
        if c.get("rule"):
            item["rule"] = c["rule"]
        if c.get("before"):
            item["before"] = c["before"]
        items.append(item)
    used = {i["context"] for i in items}
    data = {"name": "claims", "shared_root": "../shared/corpus",
            "contexts": {k: v for k, v in contexts.items() if k in used}, "items": items}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    Path(args.out).write_text(HEADER + text, encoding="utf-8")
    print(f"{len(items)} labelled items -> {args.out}")


# -- real documentation (../shared/realdocs): contexts and items stored as word references -------------
REALDOCS_CAPS = {"merge-true": 25, "negation": 12, "vacuous": 6, "vacuous-echo": 3, "subject": 15,
                 "merge-wrong": 20,
                 "trailing": 15, "quantity": 15, "first-clause": 25, "drop-aside": 20, "drop-phrase": 20,
                 "predicate": 10,
                 "number": 12, "number-word": 5, "swap": 8}


def realdocs_candidates(drafts: dict[str, Any]) -> list[dict[str, Any]]:
    """Every complete sentence of each draft (also of drafts the degenerate-draft filter discards whole)
    and the rule edits of every context sentence, with ids; labels only for rule edits (the rule's)."""
    from kb.text import WORD, sentences
    from kb.verify import MODEL_MARK

    out: list[dict[str, Any]] = []
    edited: set[str] = set()
    for key, rec in drafts.items():
        if rec.get("refused") or not rec.get("focus"):
            continue
        ctx_sents = [f["text"] for f in rec["focus"]]
        seen: set[str] = set()
        for mode in ("plain", "constrained"):
            raw = rec.get("drafts", {}).get(mode, {}).get("raw", "")
            for sent in sentences(MODEL_MARK.sub("", raw)):
                sent = sent.strip()
                if len(WORD.findall(sent)) < 5 or not re.search(r"[.!)\"']\s*$", sent) or sent.endswith("?"):
                    continue  # fragments, questions and cut-off sentences are not claims
                if sent in seen:
                    continue
                seen.add(sent)
                out.append({"id": f"{key}/{mode[0]}{_id(sent)}", "context": key, "origin": mode, "sentence": sent,
                            "cites": []})
        for i, src in enumerate(ctx_sents):
            if src in edited or not _editable(src):
                continue
            edited.add(src)
            # a merge's second part must read as a sentence of its own after ', and'
            others = [x for x in ctx_sents if x != src and _editable(x) and not OPENER.match(x)]
            for text, rule, label, err in rule_edits(src, others, DOC_MAIN_VERB):
                if rule.startswith("merge-true") and OPENER.match(src):
                    continue  # 'If A, B, and C': does the condition hold over C? a judgement call, not an item
                out.append(_rule_item(key, i, src, others, ctx_sents, text, rule, label, err))
    return _sample_rules(out, REALDOCS_CAPS)


OPENER = re.compile(r"^(?:If|When|Unless|Because|Since|Although|Even|While|However|By contrast|In contrast|"
                    r"For example|Also|But|So|This|These|It|They)\b")


def _editable(sentence: str) -> bool:
    """A real page's sentence that rules can edit: one sentence, of prose (not a flattened table row, a list,
    a label with a colon, a heading), of 6 to 40 words."""
    from kb.text import sentences

    n = len(sentence.split())
    return ("\n" not in sentence and len(sentences(sentence)) == 1 and 6 <= n <= 40
            and not re.search(r"[:;|]", sentence) and sentence.rstrip().endswith((".", "!", "?")))  # not a heading


def realdocs_context(rec: dict[str, Any], folder: Path) -> dict[str, Any] | None:
    """A realdocs context as stored: every title, heading and sentence a word reference into its page."""
    from eval.claims import word_ref

    passages: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for f in rec["focus"]:
        page = Path(f["source"]).name
        text = (folder / page).read_text(encoding="utf-8", errors="replace")
        k = (page, f["section"])
        if k not in by_key:
            by_key[k] = {"source": page, "title": _label_ref(text, page, f["title"]),
                         "section": _label_ref(text, page, f["section"]), "sentences": []}
            passages.append(by_key[k])
        ref = word_ref({page: text}, f["text"], "realdocs")
        if ref is None:
            return None  # words ingest added ('Tip:' of a callout) may be written out, a sentence may not
        by_key[k]["sentences"].append(ref)
    return {"question": rec["question"], "passages": passages}


def _stored_order(rec: dict[str, Any]) -> list[int]:
    """The focus sentences' indices in the order realdocs_context stores them (grouped by page and section)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, f in enumerate(rec["focus"]):
        groups.setdefault((Path(f["source"]).name, f["section"]), []).append(i)
    return [i for idx in groups.values() for i in idx]


def _label_ref(text: str, page: str, label: str) -> Any:
    """A title or heading: a reference when its words are the page's, else as written (a few words of a label)."""
    from eval.claims import word_ref

    if not label:
        return ""
    ref = word_ref({page: text}, label, "realdocs")
    return ref if ref is not None else label


def realdocs_sentence(sentence: str, rec: dict[str, Any], folder: Path) -> Any:
    """An item's sentence: a word reference into its context's pages (nothing of a page copied); a sentence
    of the model's own words that copies no context sentence may stay as written; else None."""
    from eval.claims import word_ref

    pages = {Path(f["source"]).name: "" for f in rec["focus"]}
    for page in pages:
        pages[page] = (folder / page).read_text(encoding="utf-8", errors="replace")
    ref = word_ref(pages, sentence, "realdocs")
    if ref is not None:
        return ref
    return None if _copies(sentence, [f["text"] for f in rec["focus"]], 4) else sentence


def view(cands: list[dict[str, Any]], drafts: dict[str, Any]) -> str:
    """Candidates with their context, for labelling: no checker verdicts (they would bias the reader)."""
    lines: list[str] = []
    by_ctx: dict[str, list[dict[str, Any]]] = {}
    for c in cands:
        by_ctx.setdefault(c["context"], []).append(c)
    for key, items in by_ctx.items():
        rec = drafts[key]
        lines += ["", f"##### {key}", f"Q: {rec['question']}"]
        lines += [f"  [{i}] {f['text']}" for i, f in enumerate(rec["focus"])]
        for c in items:
            tag = f"{c['rule']}={'T' if c['label'] else 'F:' + c['error']}" if c["origin"] == "rule" else c["origin"]
            lines.append(f"  {c['id'].rsplit('/', 1)[-1]} <{tag}> {c['cites']} | {c['sentence']}")
    return "\n".join(lines) + "\n"


class _Flow(list):  # type: ignore[type-arg]
    """A word reference's lists, written on one line each: they are read by the loader, not by people."""


def _flow_refs(value: Any) -> Any:
    if isinstance(value, dict):
        if "words" in value and "seps" in value:
            return {k: _Flow(v) if isinstance(v, list) else v for k, v in value.items()}
        return {k: _flow_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_flow_refs(v) for v in value]
    return value


def _flow_dumper() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", list(v),
                                                                     flow_style=True))
    return Dumper


_FlowDumper = _flow_dumper()


def append(argv: list[str]) -> None:
    """Realdocs drafts and rule edits into the claims set: --view prints them to label; with --labels, the
    labelled ones (a rule edit without a line keeps its rule's label) are appended, marked `added`."""
    import yaml

    from eval.cases import ROOT

    ap = argparse.ArgumentParser()
    ap.add_argument("--drafts", required=True)
    ap.add_argument("--labels")
    ap.add_argument("--view")
    ap.add_argument("--added", default="c18b")
    ap.add_argument("--out", default=str(ROOT / "eval" / "sets" / "claims.yaml"))
    args = ap.parse_args(argv)
    folder = (ROOT / "../shared/realdocs").resolve()
    drafts = json.loads(Path(args.drafts).read_text(encoding="utf-8"))
    drafts = {f"realdocs/{rec['id']}" if "/" not in k else k: rec for k, rec in drafts.items()}
    contexts = {k: realdocs_context(rec, folder) for k, rec in drafts.items() if rec.get("focus")}
    cands = [c for c in realdocs_candidates(drafts) if contexts.get(c["context"]) is not None]
    for c in cands:  # the stored context groups sentences by passage: cite by the stored order
        order = _stored_order(drafts[c["context"]])
        c["cites"] = [order.index(i) for i in c["cites"]]
    print(f"{len(cands)} candidates in {sum(v is not None for v in contexts.values())} contexts "
          f"({sum(v is None for v in contexts.values())} contexts not storable as references)")
    if args.view:
        Path(args.view).write_text(view(cands, drafts), encoding="utf-8")
    if not args.labels:
        return
    labels = read_labels(Path(args.labels))
    path = Path(args.out)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.setdefault("realdocs_root", "../shared/realdocs")
    have = {it["id"] for it in data["items"]}
    added = 0
    for c in cands:
        short = c["id"].rsplit("/", 1)[-1]
        given = labels.get(c["id"], labels.get(short, "absent"))
        if given == "absent" and c["origin"] == "rule":
            given = (c["label"], c["error"])
        if given is None or given == "absent" or c["id"] in have:
            continue
        stored = realdocs_sentence(c["sentence"], drafts[c["context"]], folder)
        if stored is None:
            print("not storable without copying:", c["id"])
            continue
        label, err = given  # type: ignore[misc]
        item = {"id": c["id"], "context": c["context"], "origin": c["origin"], "sentence": stored,
                "cites": c["cites"], "label": label}
        if not label:
            item["error"] = err
        if c.get("rule"):
            item["rule"] = c["rule"]
        item["added"] = args.added
        data["items"].append(item)
        data["contexts"].setdefault(c["context"], contexts[c["context"]])
        have.add(c["id"])
        added += 1
    order = ["name", "shared_root", "realdocs_root", "contexts", "items"]
    data = {k: data[k] for k in order if k in data}
    text = yaml.dump(_flow_refs(data), Dumper=_FlowDumper, sort_keys=False, allow_unicode=True, width=120)
    path.write_text(HEADER + text, encoding="utf-8")
    print(f"appended {added} items -> {path}")


def share(argv: list[str]) -> None:
    """Issue 13's 'kept model sentence' share with today's checker: each saved draft goes through the answer
    path again (retrieval, the focused prompt, compose) and counts when one of its sentences is kept; the
    kept sentences are looked up in the claims set, whose labels say how many are true."""
    from eval.cases import ROOT, load_set, resolve_set
    from ingest.pipeline import run_ingest
    from kb.backends.registry import load_embedder
    from kb.cite import compose
    from kb.engine import Engine
    from kb.prompt import prompt
    from kb.retrieve import question_terms
    from kb.settings import Settings
    from kb.store import Store
    from kb.verify import Checker

    ap = argparse.ArgumentParser()
    ap.add_argument("--drafts", required=True)
    ap.add_argument("--set", default="realdocs")
    ap.add_argument("--claims", default=str(ROOT / "eval" / "sets" / "claims.yaml"))
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    drafts = json.loads(Path(args.drafts).read_text(encoding="utf-8"))
    from eval.claims import load_claims

    labels = {(c.context, c.sentence): c.label for c in load_claims(args.claims).claims}
    settings = Settings(llm_runtime="transformers")
    embedder = load_embedder(settings)
    evalset = load_set(resolve_set(args.set))
    st = settings.model_copy(update={"store": settings.cache_dir / f"claims-store-{args.set}", "chroma_url": None})
    store = Store(st)
    run_ingest([str(evalset.corpus_path)], st, store, embedder, progress=False)
    engine = Engine(st, store=store, embedder=embedder, llm=None)
    out: dict[str, Any] = {}
    for key, rec in drafts.items():
        if rec.get("refused") or not rec.get("drafts"):
            continue
        hits = engine.search(rec["question"])
        checker = Checker(embedder, hits)
        terms = question_terms(rec["question"])
        _, focus = prompt(rec["question"], hits, checker, terms, True)
        for mode, d in rec["drafts"].items():
            checks = compose(rec["question"], d["raw"], hits, checker, terms, st.min_support, focus,
                             st.min_coverage).checks
            kept = [c.text for c in checks if c.action == "kept"]
            out.setdefault(mode, {})[key] = {"kept": kept, "labels": [labels.get((key, k)) for k in kept]}
    summary = {}
    for mode, per_q in out.items():
        with_kept = [k for k, v in per_q.items() if v["kept"]]
        sents = [lab for v in per_q.values() for lab in v["labels"]]
        summary[mode] = {"questions": len(per_q), "with_kept_sentence": len(with_kept),
                         "share": round(len(with_kept) / len(per_q), 3) if per_q else None,
                         "kept_sentences": len(sents), "labelled_true": sum(1 for x in sents if x is True),
                         "labelled_false": sum(1 for x in sents if x is False),
                         "not_in_set": sum(1 for x in sents if x is None)}
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "per_question": out}, indent=1,
                                              ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()


def _rule_item(key: str, i: int, src: str, others: list[str], ctx_sents: list[str], text: str, rule: str,
               label: str, err: str) -> dict:
    """One rule edit as a claims item; a true merge ('merge-true:N') also cites the other sentence it joined."""
    cites = [i]
    if rule.startswith("merge-true:"):
        rule, other = rule.split(":")
        cites.append(ctx_sents.index(others[int(other)]))
    return {"id": f"{key}/r{_id(text)}", "context": key, "origin": "rule", "sentence": text,
            "cites": cites, "rule": rule, "label": label, "error": err, "source": src}
