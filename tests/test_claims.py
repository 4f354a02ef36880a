"""The checker's challenge set (eval/sets/claims.yaml), its scoring, and decoding restricted to the source's words."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from eval.claims import (
    Claim,
    Verdict,
    load_claims,
    resolve_ref,
    score,
    split_of,
    text_ref,
)

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ROOT / "eval" / "sets" / "claims.yaml"
SHARED = ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="module")
def local_llm(model_cache):
    from kb.models import load_llm
    from kb.settings import load_settings

    return load_llm(load_settings(cache_dir=model_cache, llm_runtime="transformers", llm_url=None))


def test_the_mask_lets_the_model_write_only_the_sources_words(local_llm):
    from kb.answer import SYSTEM_PROMPT
    from kb.constrain import FUNCTION_WORDS, allowed_token_ids, constrained_chat

    tok = local_llm.tokenizer
    source = "A base model predicts the next token and is trained on a large collection of text."
    allowed = allowed_token_ids(tok, [source])
    assert not set(tok.encode(" banana", add_special_tokens=False)) <= allowed
    assert set(tok.encode(" predicts", add_special_tokens=False)) <= allowed
    assert set(tok.encode("Predicts", add_special_tokens=False)) <= allowed  # may start a sentence
    messages = [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"Passages:\n[1] Base model: {source}\n\nQuestion: What is a "
                                            "mixture of experts model used for in bananas?\nAnswer:"}]
    text, n = constrained_chat(local_llm, messages, [source], 30)
    assert n > 0 and text
    ids = tok.encode(text, add_special_tokens=False)
    # decoding and re-encoding may merge pieces differently; every word must still be spelt from allowed pieces
    words = {w.strip(".,;:()'\"").lower() for w in text.split()} - {""}
    source_words = {w.strip(".,").lower() for w in source.split()} | set(FUNCTION_WORDS)
    assert words, ids
    assert not {"banana", "bananas", "mixture", "experts"} & words, text
    assert len(words - source_words) <= len(words) // 3, (text, words - source_words)  # sub-word recombinations


def test_split_is_by_context_and_deterministic():
    assert split_of("sample/moe-def") == split_of("sample/moe-def")
    splits = Counter(split_of(f"sample/q{i}") for i in range(200))
    assert 70 < splits["held-out"] < 130


def test_references_resolve_only_to_the_text_they_were_made_from():
    page = "Title\n\nA   first sentence here.\nA second sentence, about MoE."
    ref = text_ref(page, "A second sentence, about MoE.")
    assert ref and resolve_ref(page, ref) == "A second sentence, about MoE."
    assert resolve_ref(page.replace("MoE", "dense models"), ref) is None  # the page changed: skipped, not misread
    assert text_ref(page, "not on the page") is None


def test_precision_recall_and_error_types_are_counted_per_split():
    def claim(i: int, label: bool, error: str = "", ctx: str = "") -> Claim:
        return Claim(f"c{i}", ctx, "rule", "s", (0,), label, error)

    held = next(f"x{i}" for i in range(50) if split_of(f"x{i}") == "held-out")
    dev = next(f"x{i}" for i in range(50) if split_of(f"x{i}") == "dev")
    claims = [claim(1, True, ctx=held), claim(2, True, ctx=held), claim(3, False, "number", held),
              claim(4, False, "number", held), claim(5, False, "vacuous", dev)]
    kept = {"c1": True, "c2": False, "c3": True, "c4": False, "c5": True}
    s = score(claims, {k: Verdict(v, "", []) for k, v in kept.items()})
    held_out = s["held-out"]
    assert held_out["overall"]["precision"] == 0.5 and held_out["overall"]["recall"] == 0.5
    assert held_out["by_error"]["number"] == {"n": 2, "kept": 1, "caught": 0.5}
    assert "vacuous" not in held_out["by_error"] and s["dev"]["by_error"]["vacuous"]["kept"] == 1


def test_the_claims_set_is_big_labelled_and_split():
    cs = load_claims(CLAIMS)
    origins = Counter(c.origin for c in cs.claims)
    assert len(cs.claims) + sum(1 for _ in cs.skipped) >= 300 or not SHARED.is_dir()
    assert origins["plain"] and origins["constrained"] and origins["rule"]
    assert {c.split for c in cs.claims} == {"held-out", "dev"}
    assert {c.error for c in cs.claims if not c.label} >= {"number", "quantity", "negation", "subject", "predicate",
                                                           "merge", "vacuous", "trailing"}
    for c in cs.claims:
        ctx = cs.contexts[c.context]
        assert all(0 <= i < len(ctx.sentences) for i in c.cites), c.id
        assert c.label or c.error, c.id
    if SHARED.is_dir():
        assert not cs.skipped, cs.skipped  # every reference still resolves


def test_no_sentence_of_a_shared_page_is_copied_into_the_set():
    import yaml

    data = yaml.safe_load(CLAIMS.read_text(encoding="utf-8"))
    for cid, ctx in data["contexts"].items():
        for p in ctx["passages"]:
            own = (ROOT / p["source"]).is_file()
            for s in p["sentences"]:
                assert isinstance(s, str) == own, (cid, p["source"])  # text for our pages, a reference otherwise
