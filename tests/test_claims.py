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
    from kb.backends.registry import load_llm
    from kb.settings import load_settings

    return load_llm(load_settings(cache_dir=model_cache, llm_runtime="transformers", llm_url=None))


def test_the_mask_lets_the_model_write_only_the_sources_words(local_llm):
    from kb.constrain import FUNCTION_WORDS, allowed_token_ids, constrained_chat
    from kb.prompt import SYSTEM_PROMPT

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


# -- the checker's rules (kb/exact.py, used by kb.verify.Checker.support) -----------------------------
def test_numbers_must_be_the_sources():
    from kb.exact import quantity_mismatch

    src = "The Falcon board has 12 sensors and weighs 3.5 kg."
    assert "12" in quantity_mismatch("The Falcon board has 1 sensor.", src) or "1" in quantity_mismatch(
        "The Falcon board has 1 sensor.", src)
    assert quantity_mismatch("The Falcon board weighs 35 kg.", src)
    assert not quantity_mismatch("The Falcon board has 12 sensors.", src)


ROUTER = "A router with many expert layers sends each token to only a few of the experts."
PARSERS = "Most parsers run in the browser."
BOARDS = "Small boards are usually under a few billion transistors."


@pytest.mark.parametrize("sentence,source,bad", [
    ("A router sends each token to many of the experts.", ROUTER, True),  # 'a few' became 'many'
    ("A router sends each token to only many of the experts.", ROUTER, True),  # 'many' is in the source elsewhere
    ("Small boards are usually under one billion transistors.", BOARDS, True),  # 'a few billion' -> 'one billion'
    ("All parsers run in the browser.", PARSERS, True),  # 'Most parsers' became 'all'
    ("Parsers run in the browser.", PARSERS, True),  # the subject's 'most' was dropped
    ("A router sends each token to a few experts.", ROUTER, False),  # 'only a few of the experts', shortened
    ("Most parsers run in the browser.", PARSERS, False),
])
def test_quantity_words_must_be_used_as_in_the_source(sentence, source, bad):
    from kb.exact import quantity_mismatch

    assert bool(quantity_mismatch(sentence, source)) is bad


def test_a_copula_needs_the_sources_subject_and_predicate_noun():
    from kb.exact import predicate_mismatch, subject_mismatch

    src = "A mirage is output from a camera that looks sharp but shows nothing real."
    assert "output" in predicate_mismatch("A mirage is a camera that looks sharp.", src)
    assert not predicate_mismatch("A mirage is output that looks sharp but shows nothing real.", src)
    assert predicate_mismatch("The output of a mirage is a camera.", "A mirage is output from a camera.")
    assert subject_mismatch("A distortion stores fewer frames.", "Cheap lenses distort more often because they store "
                            "fewer frames.")
    assert subject_mismatch("A raster editor draws smooth curves.", "A spline tool draws smooth curves.")
    assert not subject_mismatch("Mirages look sharp.", src)


def test_a_trailing_clause_needs_its_own_support():
    from kb.exact import unsupported_clause

    main = "A spline tool draws smooth curves through control points."
    assert unsupported_clause("A spline tool draws smooth curves through control points, which makes it faster "
                              "than a raster editor.", main, {"spline", "tool"})
    assert not unsupported_clause("A spline tool draws smooth curves, which run through control points.",
                                  "A spline tool draws smooth curves which run through control points.",
                                  {"spline", "tool"})


@pytest.mark.parametrize("sentence,empty", [
    ("When a spline tool is curve-tuned, it can be related to the curves of editing.", True),
    ("A spline tool can be used for a spline tool.", True),
    ("A spline tool is a spline tool.", True),
    ("For an editor that needs a spline tool for curves.", True),
    ("A spline tool draws smooth curves through control points.", False),
])
def test_vacuous_sentences_are_unusable(sentence, empty):
    from kb.exact import vacuous

    assert bool(vacuous(sentence, "What is a spline tool?")) is empty


def test_negation_and_order_are_compared_where_they_apply():
    from kb.exact import negation_mismatch, order_mismatch

    src = "Kriging is self-calibrating: the data provides the weights, so no manual tuning is needed."
    assert negation_mismatch("Kriging is not self-calibrating.", src)
    assert not negation_mismatch("Kriging is self-calibrating: the data provides the weights.", src)  # a shortening
    assert negation_mismatch("Kriging needs manual tuning.", src)
    assert order_mismatch("Kriging needs more weights than data.", "Kriging needs more data than weights.")
    assert not order_mismatch("Kriging needs more data than weights.", "Kriging needs more data than weights.")


def _checker(embedder, *passages):
    from kb.types import Chunk, Hit
    from kb.verify import Checker

    hits = [Hit(chunk=Chunk(id=f"p{i}", text=text, source=f"page{i}.md", title=title, section=title, position=0),
                score=1.0) for i, (title, text) in enumerate(passages)]
    return Checker(embedder, hits), hits


def test_a_merge_of_two_supported_sentences_is_kept_and_cites_both(embedder):
    from kb.cite import compose

    checker, hits = _checker(
        embedder,
        ("Spline tool", "A spline tool draws smooth curves through control points."),
        ("Raster editor", "A raster editor paints pixels one by one with a brush."))
    merged = "A spline tool draws smooth curves through control points, and a raster editor paints pixels one by one."
    sup = checker.support(merged)
    assert not sup.reason and sup.source and [s.text for s in sup.also] == [
        "A raster editor paints pixels one by one with a brush."]
    out = compose("How do spline tools and raster editors differ?", merged, hits, checker, [], 0.6, min_coverage=0.6)
    assert out.checks[0].action == "kept" and "[1, 2]" in out.text and len(out.citations) == 2
    # the same merge with a part no sentence supports is dropped
    wrong = "A spline tool draws smooth curves through control points, and a raster editor draws smooth curves."
    assert checker.support(wrong).reason


@pytest.mark.parametrize("wrong", [
    "A spline tool draws smooth curves through control points, which makes it faster than a raster editor.",
    "A spline tool draws rough curves through 3 control points.",
    "A raster editor draws smooth curves through control points.",
])
def test_wrong_sentences_made_of_the_sources_words_are_not_supported(embedder, wrong):
    checker, _ = _checker(
        embedder,
        ("Spline tool", "A spline tool draws smooth curves through control points."),
        ("Raster editor", "A raster editor paints pixels one by one with a brush."))
    assert checker.support(wrong).reason, wrong


@pytest.mark.skipif(not SHARED.is_dir(), reason="the seed pages (../shared) are absent")
def test_no_stored_draft_repeats_a_seed_pages_sentence():
    """A sentence about a shared page is stored as written only when it copies none of its context's
    sentences; one made of the page's words (an edit of a realdocs sentence) is a word reference."""
    import yaml

    from eval.claims import MAX_LITERAL_RUN
    from eval.make_claims import _copies

    cs = load_claims(CLAIMS)
    stored = {it["id"]: it["sentence"] for it in yaml.safe_load(CLAIMS.read_text(encoding="utf-8"))["items"]}
    for c in cs.claims:
        if not c.context.startswith("sample/"):
            if isinstance(stored[c.id], str):
                assert not _copies(c.sentence, cs.contexts[c.context].sentences), c.id
            else:  # a word written out is one no context page has; never more than a few in a row
                run = longest = 0
                for w in stored[c.id]["words"]:
                    run = run + 1 if isinstance(w, str) else 0
                    longest = max(longest, run)
                assert longest <= MAX_LITERAL_RUN, c.id


def test_word_references_rebuild_a_sentence_without_copying_it():
    """Ingest removes markup, so a realdocs sentence is stored as runs of its page's words and the marks
    between them; a changed page is skipped, not misread."""
    from eval.claims import resolve_word_ref, word_ref

    page = "# Widgets\n\nA **widget** (see [the guide](https://example.org/w)) bends light, slowly.\nOther text."
    sentence = "A widget (see the guide) bends light, slowly."
    ref = word_ref({"w.md": page}, sentence, "realdocs")
    assert ref and all(not isinstance(w, str) for w in ref["words"])
    assert all(not any(ch.isalnum() for ch in sep) for sep in ref["seps"])  # no words outside references
    assert resolve_word_ref([page], ref) == sentence
    assert resolve_word_ref([page.replace("bends", "bounces")], ref) is None
    assert resolve_word_ref([None], ref) is None
    edit = word_ref({"w.md": page}, "A widget does not bend light.", "realdocs")
    assert edit and [w for w in edit["words"] if isinstance(w, str)] == ["does", "not", "bend"]
    assert resolve_word_ref([page], edit) == "A widget does not bend light."
    assert word_ref({"w.md": page}, "Nothing of this sentence is on that page at all.", "realdocs") is None


def test_a_realdocs_context_is_skipped_when_its_folder_is_absent(tmp_path):
    """Contexts may point at either shared folder; without it, their items are skipped, not failed."""
    import yaml

    from eval.claims import word_ref

    page = "Lenses bend light toward a focal point. Mirrors reflect it."
    folder = tmp_path / "rd"
    folder.mkdir()
    (folder / "optics.md").write_text(page, encoding="utf-8")
    ref = word_ref({"optics.md": page}, "Lenses bend light toward a focal point.", "realdocs")
    edit = word_ref({"optics.md": page}, "Mirrors bend light toward a focal point.", "realdocs")
    data = {"name": "claims", "realdocs_root": str(folder), "contexts": {"realdocs/q": {
        "question": "What do lenses do?",
        "passages": [{"source": "optics.md", "title": "Optics", "section": "", "sentences": [ref]}]}},
        "items": [{"id": "realdocs/q/r1", "context": "realdocs/q", "origin": "rule", "sentence": edit,
                   "cites": [0], "label": False, "error": "subject"}]}
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    cs = load_claims(path, realdocs_root=folder)
    assert cs.contexts["realdocs/q"].sentences == ["Lenses bend light toward a focal point."]
    assert [c.sentence for c in cs.claims] == ["Mirrors bend light toward a focal point."]
    gone = load_claims(path, realdocs_root=tmp_path / "absent")
    assert not gone.claims and "realdocs/q" in gone.skipped


# -- the acceptance rule: an extractive compression of one source sentence (kb/extractive.py) ----------
SPLINE = "A spline tool (a curve editor) draws smooth curves through control points, which makes editing fast."
LENS = "Cheap lenses blur the edges of a frame, but only when the aperture is wide open."


@pytest.mark.parametrize("sentence,source", [
    (SPLINE, SPLINE),
    ("A spline tool draws smooth curves through control points.", SPLINE),  # an aside and a trailing clause
    ("Spline tools draw smooth curves through control points.", SPLINE),  # number and agreement change
    ("A spline tool draws curves through control points.", SPLINE),  # a modifier of 'curves'
    ("A spline tool draws smooth curves.", SPLINE),  # the rest from a clause word on ('through ...')
    ("A knot vector, also called a knot sequence, fixes where curve pieces join.",
     "A knot vector, also called a knot sequence, fixes where curve pieces join."),
    ("A knot vector fixes where curve pieces join.",
     "A knot vector, also called a knot sequence, fixes where curve pieces join."),  # an aside between commas
    ("A raster editor paints pixels in layers.", "A raster editor paints pixels with a soft brush in layers."),
    ("However, a raster editor stores pixels.", "However, a raster editor stores pixels."),
    ("A raster editor stores pixels.", "However, a raster editor stores pixels."),  # a discourse word at the start
    ("A kiln heats clay slowly, so the glaze sets evenly.",  # a parenthesis with the comma after it
     "A kiln heats clay slowly (over ten hours), so the glaze sets evenly."),
    ("A kiln fires the pots.", "A kiln fires the pots across three chambers."),  # a trailing phrase ('across ...')
    ("A kiln does not crack pots.", "A kiln does not crack pots, which saves clay."),  # a clause after the negation
    ("A kiln does not crack pots, and it fires glaze.",
     "A kiln does not crack pots, and it fires glaze in one pass."),  # the negation's clause has ended
])
def test_an_extractive_compression_is_accepted(sentence, source):
    from kb.extractive import compression_mismatch

    assert compression_mismatch(sentence, source) == ""


@pytest.mark.parametrize("sentence,source,why", [
    ("A spline tool draws smooth curves quickly.", SPLINE, "quickly"),  # a word the source does not have
    ("A spline tool draws control points through smooth curves.", SPLINE, "order"),  # roles swapped
    ("A spline tool draws smooth curves through 3 control points.", SPLINE, "3"),
    ("Lenses blur the edges of a frame, but only when the aperture is wide open.", LENS, "start"),  # "cheap" went
    ("Cheap lenses blur the edges of a frame.", LENS, "limit"),  # ', but only when ...' overstates what is left
    ("A lens hood is useful when the sun is low.", "A lens hood is useful when the sun is low.", ""),
    ("A lens hood is useful.", "A lens hood is useful when the sun is low.", "limit"),  # a condition dropped
    ("A mirage is a camera that looks sharp.", "A mirage is output from a camera that looks sharp.", "output"),
    ("A scan reads barcodes at the till.", "A scanner reads barcodes at the till.", "scan"),  # not an inflection
    ("A router sends each token to a few experts.", "A router sends each token to only a few experts.", "only"),
    ("A router scores for each token.", "A router scores the experts for each token.", "holds"),  # the object went
    ("Pixels are small and scales them up.", "Pixels are small and the upscaler scales them up.", "subject"),
    ("Fine-tuning is a way to add facts.", "Fine-tuning is a poor way to add facts.", "poor"),  # a judgement went
    ("The lake freezes.", "In a cold winter, the lake freezes.", "start"),  # a condition at the start
    ("Kriging needs no manual tuning.", "Kriging needs no manual tuning, unless the data is sparse.", "limit"),
    ("A kiln reaches the glaze temperature.", "A kiln never reaches the glaze temperature.", "never"),
    # two parentheses and the words between them are not one parenthesis
    ("A kiln heats clay, so the glaze sets.",
     "A kiln heats clay (slowly) only when damp (in winter), so the glaze sets.", "only"),
    ("A kiln fires the pots.", "A kiln fires the pots (not the tiles), in winter.", "not"),  # a negation in it
    # under a negation, a dropped phrase widens what is denied: no FP8 at all is not no FP8 in hardware
    ("Old kilns reach 900 degrees but do not reach the glaze point.",
     "Old kilns reach 900 degrees but do not reach the glaze point in one firing.", "denies"),
    ("A kiln cannot fire porcelain.", "A kiln cannot fire porcelain (at low heat).", "denies"),
    # a dropped rest may not leave a hedge or a judgement without what it was said of
    ("A kiln dries pots quickly, even.", "A kiln dries pots quickly, even in damp weather.", "even"),
])
def test_anything_else_is_not_an_extractive_compression(sentence, source, why):
    from kb.extractive import compression_mismatch

    got = compression_mismatch(sentence, source)
    assert (why in got) if why else got == "", got


def test_a_merge_whose_later_part_opens_with_a_pronoun_is_dropped(embedder):
    checker, _ = _checker(
        embedder,
        ("Spline tool", "A spline tool draws smooth curves through control points."),
        ("Raster editor", "A raster editor paints pixels one by one. It stores them in layers."))
    merged = "A spline tool draws smooth curves through control points, and it stores them in layers."
    assert "pronoun" in checker.support(merged).reason
    fine = "A spline tool draws smooth curves through control points, and a raster editor paints pixels one by one."
    assert not checker.support(fine).reason
