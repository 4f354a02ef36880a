""""What is X?" when X's own page never says what X is (kb/retrieve.py `Corpus.defining_passages`).

Pages written for these tests, ingested into a real store with the real embedder: a page titled
"Sprocket" that is a configuration reference (it names sprockets everywhere and defines nothing), a
gearbox tutorial with a section opening "A sprocket is a toothed wheel ...", and a page titled
"Idler" that defines its own term. The tutorial's passage must come first for "What is a sprocket?";
a term whose own page defines it keeps that page.
"""

from __future__ import annotations

import pytest

from tests.helpers import engine_over_pages, retriever_with

PAGES = {
    "sprocket.md": (
        "# Sprocket\n\n## Per-gear sprocket settings (`sprocket_ratio` / `sprocket_pattern`)\n\n"
        "By default `sprocket_ratio` applies to every sprocket of the drive. `sprocket_pattern` maps a "
        "sprocket-name regex to a ratio that overrides `sprocket_ratio` for the matched sprockets. A key like "
        "`rear.sprocket.2` matches any sprocket path ending in that suffix.\n\n"
        "## Sprocket logging\n\nSet `sprocket_log: true` to print every sprocket's ratio at start-up.\n"),
    "gearbox-guide.md": (
        "# Gearbox guide\n\n## Housings\n\nThe housing keeps dust out and oil in; cast aluminium is the usual "
        "choice for small drives.\n\n## What is a sprocket?\n\n"
        "A sprocket is a toothed wheel that meshes with a chain or a perforated belt, so the chain turns "
        "with it without slipping. Its tooth count sets the ratio between two shafts.\n"),
    "idler.md": (
        "# Idler\n\nAn idler is a wheel that only guides or tensions a chain and transmits no power.\n\n"
        "## Placement\n\nPut the idler on the slack side of the chain, close to the driving sprocket.\n"),
    # two pages titled by one term: a flywheel settings reference and a flywheel primer that defines it
    "flywheel.md": (
        "# Flywheel\n\n## Flywheel settings (`flywheel_mass` / `flywheel_radius`)\n\n"
        "`flywheel_mass` sets the flywheel mass in kilograms for every flywheel of the drive. `flywheel_radius` "
        "overrides the flywheel radius; a flywheel key like `rear.flywheel` matches any flywheel path ending in "
        "that suffix.\n"),
    "flywheels.md": (
        "# Flywheels\n\n## Mounting\n\nBolt the hub to the shaft before the rim goes on.\n\n"
        "## Basics\n\nA flywheel is a heavy wheel that stores rotational energy and evens out the speed of "
        "a shaft between power strokes.\n"),
}


@pytest.fixture(scope="module")
def gear_engine(tmp_path_factory, embedder, model_cache):
    from kb.settings import load_settings

    root = tmp_path_factory.mktemp("gears")
    return engine_over_pages(PAGES, root, load_settings(store=root / "store", cache_dir=model_cache), embedder)


def _first(hits) -> str:
    return f"{hits[0].chunk.source.rsplit('/', 1)[-1]} :: {hits[0].chunk.section}"


def test_the_passage_that_defines_the_term_leads(gear_engine):
    """Without the rule the page titled 'Sprocket' leads (its title and every line name the term); with
    it the tutorial's "A sprocket is a toothed wheel" passage does, through the engine's search too."""
    question = "What is a sprocket?"
    assert _first(retriever_with(gear_engine, definition=0.0).retrieve(question, 4)).startswith("sprocket.md")
    assert _first(retriever_with(gear_engine).retrieve(question, 4)) == "gearbox-guide.md :: What is a sprocket?"
    assert _first(gear_engine.search(question, 4)) == "gearbox-guide.md :: What is a sprocket?"


def test_only_plain_definition_questions_are_routed(gear_engine):
    """A comparison or a 'why not' names terms too, but asks something else than what they are."""
    r = retriever_with(gear_engine)
    for question in ("Why not use a sprocket?", "What is the difference between a sprocket and an idler?"):
        off = retriever_with(gear_engine, definition=0.0).retrieve(question, 4)
        assert [h.chunk.id for h in r.retrieve(question, 4)] == [h.chunk.id for h in off], question


def test_a_term_whose_own_page_defines_it_is_left_to_that_page(gear_engine):
    corpus = gear_engine.corpus()
    assert corpus.definitions["idler"] and corpus.defining_passages("idler") == []
    assert _first(gear_engine.search("What is an idler?", 4)).startswith("idler.md")
    (passage,) = corpus.defining_passages("sprocket")
    assert corpus.definitions["sprocket"][passage].endswith("gearbox-guide.md")


def test_of_several_pages_titled_by_the_term_the_one_that_defines_it_leads(gear_engine):
    """'Flywheel' and 'Flywheels' are both the term's own pages; the settings reference leads by fusion,
    the primer's "A flywheel is a heavy wheel ..." passage leads with the rule."""
    question = "What is a flywheel?"
    assert _first(retriever_with(gear_engine, definition=0.0).retrieve(question, 4)).startswith("flywheel.md")
    assert _first(gear_engine.search(question, 4)) == "flywheels.md :: Basics"


def test_saved_index_keeps_the_definitions(gear_engine, tmp_path):
    from kb.retrieve import Corpus

    corpus = gear_engine.corpus()
    corpus._write(tmp_path / "bm25")
    read = Corpus._read(gear_engine.store, tmp_path / "bm25", corpus.generation)
    assert read is not None and read.definitions == corpus.definitions


@pytest.mark.parametrize(("paragraph", "keys"), [
    ("LoRA is an adapter-based method for tuning.", ["lora"]),
    ("Note: ORPO is an alternative to DPO.", ["orpo"]),
    ("Mixture of experts (MoE) is a model architecture.", ["mixtur expert", "moe"]),
    ("The KV cache is the memory that holds keys.", ["kv cach"]),
    ("This is a test of the parser.", []),  # a pronoun is no term
    ("Quantization is not the only way to shrink a model.", []),  # no article: a claim, not a definition
    ("Use a cosine schedule; it is a safe default.", []),
    # a capitalised name is also asked by its initials
    ("Reinforcement Learning from Human Feedback is a method whereby a model learns from people.",
     ["reinforc learn human feedback", "rlhf", "rlfhf"]),
    ("Parameter-Efficient Fine-Tuning is a family of methods.",
     ["paramet effici fine tune", "peft"]),  # a hyphen is a space in a term's key
    ("Mixture of Experts is an architecture.", ["mixtur expert", "moe"]),  # "ME" is a stopword
])
def test_defined_terms(paragraph, keys):
    from kb.text import defined_terms

    assert defined_terms(paragraph) == keys


@pytest.mark.parametrize("asked, titled", [
    ("a mixture-of-experts model", "Mixture of Experts"),  # routes to the glossary entry of that title
    ("quantization-aware training", "Quantization Aware Training"),
    ("gear-box", "Gear box"),
])
def test_a_hyphenated_term_is_asked_for_its_spaced_title(asked, titled):
    from kb.text import term_key

    assert term_key(asked) == term_key(titled)
