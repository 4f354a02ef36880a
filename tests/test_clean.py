"""Cleaning rules: what each seed page loses, that no definition is lost, and the general rules behind it.

The seed pages in ../shared/corpus are read at test time (their text is not copied
here); the general rules are shown on lines written for these tests.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from ingest.boilerplate import drop_lines, repeated_across_pages, shape_reason, strip_boilerplate
from ingest.clean import clean_doc, clean_html, clean_markdown
from ingest.glossary import term_metadata
from ingest.read import RawDoc, read_file
from kb.text import sentences

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/corpus is absent")

# "<term> is/are ...": an optional article, up to six words that are not a pronoun, then is/are.
DEFINITION = re.compile(r"^(?:(?:A|An|The)\s+)?(?!(?:it|this|that|these|those|there|they|we|you|i|here|what|how|"
                        r"which|who|why)\b)(?:[\w'’()-]+[,:]?\s+){1,6}?(?:is|are)\s", re.I)


def seed(prefix: str) -> tuple[str, object, list]:
    path = next(SHARED.glob(f"{prefix}_*.txt"))
    raw = read_file(path)
    page, removed = clean_doc(raw)
    return raw.text, page, removed


def words(text: str) -> list[str]:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a Markdown link reads as its label
    return re.findall(r"\w+", text.lower())


def contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def definition_sentences(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        for sent in sentences(line):
            if DEFINITION.match(sent.strip("-*•✕ ")):
                out.append(sent)
    return out


def show(name: str, removed) -> None:
    print(f"\n{name}: {len(removed)} lines removed")
    for r in removed:
        print(f"  [{r.reason}] {r.line[:90]}")


@needs_shared
@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_no_definition_sentence_is_lost(prefix):
    original, page, removed = seed(prefix)
    show(prefix, removed)
    defs = definition_sentences(original)
    assert defs, "every seed page defines something"
    cleaned = words(page.text)
    lost = [d for d in defs if not contains(cleaned, words(d))]
    assert not lost
    # a removed line is chrome, or a second copy of a line that is still there
    for r in removed:
        if r.reason.startswith("repeated"):
            assert contains(cleaned, words(r.line)) or "chrome" in r.reason
        else:
            assert not definition_sentences(r.line), r


@needs_shared
def test_truncated_mdx_copy_keeps_front_matter_as_metadata():
    original, page, removed = seed("000")
    assert removed == []
    assert page.title == "Choosing the right model"
    assert page.metadata["sidebar_position"] == 1
    assert "sidebar_position" not in page.text and not page.text.startswith("---")
    assert "term" not in page.metadata  # a guide, not a glossary entry


@needs_shared
def test_mdx_imports_and_jsx_go_but_their_text_and_links_stay():
    original, page, _ = seed("001")
    assert re.search(r"^import ", original, re.M) and "<LinkList>" in original
    assert not re.search(r"^import ", page.text, re.M)
    assert "<LinkList>" not in page.text and "</LinkList>" not in page.text
    assert page.metadata["description"] and "Base models" in page.metadata["keywords"]
    assert "## Additional resources" in page.text  # the heading inside the JSX block
    links = re.findall(r"\[([^\]]+)\]\((https?://[^)]+)\)", original.split("<LinkList>")[1])
    assert len(links) >= 5
    for label, url in links:
        assert f"{label} ({url})" in page.text
    # inline links keep their label, without Markdown syntax
    assert "](" not in page.text


@needs_shared
def test_glossary_page_loses_its_sign_up_block_and_gets_term_and_aliases():
    original, page, removed = seed("002")
    reasons = Counter(r.reason for r in removed)
    assert reasons["call to action"] >= 2
    assert "free trial" in original.lower() and "free trial" not in page.text.lower()
    assert page.title == "Base Model"
    assert page.metadata["term"] == "Base Model"
    aliases = [a.strip().lower() for a in page.metadata["aliases"].split(",")]
    assert "foundation model" in aliases and "pre-trained model" in aliases
    # the related-terms definitions at the bottom are content, each under its own heading
    assert "## Large Language Model (LLM)" in page.text


@needs_shared
def test_chat_widget_page_loses_widget_banners_and_the_repeated_faq():
    original, page, removed = seed("003")
    reasons = Counter(r.reason for r in removed)
    assert reasons["chat widget"] >= 3
    assert reasons["call to action"] >= 2
    assert reasons["repeated within the page"] >= 4  # the second copy of the FAQ block
    assert page.metadata["term"] == "Base Model"
    # the widget's product name, repeated as chrome, is gone; trial banners are gone
    widget_name = Counter(line.strip() for line in original.splitlines() if line.strip()).most_common(1)[0][0]
    assert widget_name not in page.text
    assert "no charge" not in page.text.lower()
    # every FAQ question stays exactly once
    questions = [line.strip() for line in original.splitlines() if line.strip().endswith("?")
                 and original.count(line.strip()) == 2]
    assert len(questions) >= 2
    for q in questions:
        assert page.text.count(q) == 1


@needs_shared
def test_guide_loses_its_run_together_menu_and_breadcrumb():
    original, page, removed = seed("004")
    first, second = [line for line in original.splitlines() if line.strip()][:2]
    assert [r.line for r in removed[:2]] == [first.strip(), second.strip()]
    assert removed[0].reason.startswith("navigation menu") and removed[1].reason.startswith("breadcrumb")
    third = [line for line in original.splitlines() if line.strip()][2]
    assert page.title == third.strip()
    assert "term" not in page.metadata
    assert page.text.count("\n- ") >= 8  # the bullet list survives as a list


# -- the general rules, on lines written for these tests ----------------------------------

@pytest.mark.parametrize("line,reason", [
    ("Docs Blog Pricing Careers Contact Login Status", "navigation menu"),
    ("Getting startedInstallationConfigurationDeploymentTroubleshootingAPI reference", "navigation menu"),
    ("Home › Docs › Serving › Batching", "breadcrumb"),
    ("Home | Products | Pricing | Support", "breadcrumb"),
    ("Start your free trial today", "call to action"),
    ("Get started free →", "call to action"),
    ("No credit card required. Cancel anytime.", "call to action"),
    ("Ready to ship your first assistant?", "call to action"),
    ("Book a demo", "button"),
    ("Accept all", "button"),
    ("Hi there! How can I help you today?", "chat widget"),
    ("Powered by Intercom", "chat widget"),
    ("Send", "button"),
    ("2 min ago", "chat widget"),
    ("We use cookies to improve your experience. By using this site you agree to our privacy policy.",
     "cookie banner"),
])
def test_chrome_lines_are_recognised(line, reason):
    assert (shape_reason(line) or "").startswith(reason)


@pytest.mark.parametrize("line", [
    "Sign up at the console and create an API key before you call the endpoint.",
    "Teams use GitHub Actions, DeepSeek models and JavaScript tooling to ship faster.",
    "Base Model vs Instruction-Tuned Model",
    "Large Language Model (LLM)",
    "Deploy the model",
    "Free models are not always cheaper to run in production.",
    "A router sends each token to the experts that score it highest.",
])
def test_content_lines_are_kept(line):
    assert shape_reason(line) is None


def test_a_definition_is_never_dropped_even_with_marketing_words():
    lines = ["The free tier is a plan that costs nothing for small teams, start now."]
    kept, removed = strip_boilerplate(lines, dump=True)
    assert kept == lines and removed == []


def test_call_to_action_heading_goes_with_its_block():
    lines = ["Launch Your Assistant", "Put your docs to work today. Deploy a grounded helper in minutes.",
             "Deploy the model", "Copy the weights to the server and start the process."]
    kept, removed = strip_boilerplate(lines, dump=True)
    assert [r.line for r in removed] == lines[:2]
    assert kept == lines[2:]


def test_repeats_within_a_page_keep_the_first_copy_and_drop_chrome():
    lines = ["Widget", "Acme", "Q: how do widgets refresh?", "They poll the server every minute for changes.",
             "Acme", "Q: how do widgets refresh?", "They poll the server every minute for changes.", "Acme"]
    kept, removed = strip_boilerplate(lines, dump=True)
    assert kept == ["Widget", "Q: how do widgets refresh?", "They poll the server every minute for changes."]
    assert {r.reason for r in removed} == {"repeated within the page", "repeated within the page (widget or chrome)"}


def test_authored_markdown_keeps_short_repeats_headings_and_tables():
    lines = ["# Guide", "## Example", "| a | b |", "|---|---|", "- Yes", "## Example", "|---|---|", "- Yes"]
    kept, removed = strip_boilerplate(lines, dump=False)
    assert kept == lines and removed == []


def test_lines_repeated_across_pages_are_chrome_but_headings_and_definitions_stay():
    pages = {
        f"p{i}": f"# Page {i}\n\n## Related terms\n\nPage {i} body text that is unique to page number {i}.\n\n"
                 "A widget is a small part of a screen.\n\nWas this page helpful? Rate it below.\n"
        for i in range(3)
    }
    keys = repeated_across_pages(pages)
    assert keys == {"was this page helpful? rate it below."}
    text, removed = drop_lines(pages["p0"], keys, "repeated across pages")
    assert "helpful" not in text and "## Related terms" in text and "A widget is" in text
    assert [r.reason for r in removed] == ["repeated across pages"]
    assert repeated_across_pages(dict(list(pages.items())[:2])) == set()  # two pages are not a pattern


# -- glossary awareness ---------------------------------------------------------------------

@pytest.mark.parametrize("title,text,term,aliases", [
    ("What is Base Model?", "Base models are raw.", "Base Model", None),
    ("Base Model", "A base model (also called a foundation model or pre-trained model) is the first stage.",
     "Base Model", "foundation model, pre-trained model"),
    ("Large Language Model (LLM)", "A large language model is a network trained on text.",
     "Large Language Model", "LLM"),
    ("Mixture of experts", "Mixture of experts, also known as MoE, is a sparse design.", "Mixture of experts", "MoE"),
    ("Tokenizer", "Tokenizers are programs that split text into tokens, sometimes called lexers.", "Tokenizer",
     "lexers"),
    ("RLHF (reinforcement learning from human feedback)", "Reinforcement learning from human feedback (RLHF) "
     "is a tuning stage.", "RLHF", "reinforcement learning from human feedback"),
    ("Choosing the right model", "The first step is deciding what you need.", None, None),
    ("Choosing a model", "Choosing a model means matching its size to the task.", None, None),
    ("How to serve a model", "A served model is one behind an endpoint.", None, None),
    ("Use cases for language models", "Language models are used for many tasks.", None, None),
])
def test_term_and_aliases_from_title_and_first_sentences(title, text, term, aliases):
    meta = term_metadata(title, {}, text)
    assert meta.get("term") == term
    assert meta.get("aliases") == aliases


def test_first_heading_is_tried_when_the_title_names_more_than_the_term():
    meta = term_metadata("Adapters and ranks", {}, "# Adapter\n\nAn adapter is a small trainable layer.")
    assert meta == {"term": "Adapter"}


def test_front_matter_term_and_aliases_win():
    meta = term_metadata("Guide to adapters", {"term": "LoRA", "aliases": ["low-rank adaptation"]},
                         "LoRA, also called low-rank adapters, trains small matrices.")
    assert meta == {"term": "LoRA", "aliases": "low-rank adaptation, low-rank adapters"}


# -- multi-term glossary pages (invented entries, laid out like real glossaries) ---------------

def md_page(text: str, name: str = "glossary"):
    from ingest.chunk import chunk_page

    page = clean_doc(RawDoc(source=f"/docs/{name}.md", text=text, kind="md", modified="", content_hash=""))[0]
    return page, {c.section: c.metadata.get("entries") for c in chunk_page(page) if c.metadata.get("entries")}


def test_markdown_glossary_headings_become_entries_with_their_abbreviations():
    page, tagged = md_page("# Terms & Glossary\n\nWords used on this site.\n\n"
                           "### Sprocket Ratio (SR)\n\nHow many teeth the front wheel has per back tooth.\n\n"
                           "### Idle Hum\n\nThe sound a resting widget makes.\n\n"
                           "### Warp Core\n\nThe engine room's main power source.\n")
    assert page.metadata["glossary_entries"][0] == ["Sprocket Ratio (SR)", "Sprocket Ratio", "SR"]
    assert tagged == {"Sprocket Ratio (SR)": "Sprocket Ratio; SR", "Idle Hum": "Idle Hum", "Warp Core": "Warp Core"}


def test_markdown_glossary_bold_terms_and_definition_lists_become_term_lines():
    bold = md_page("# Glossary\n\n**Sprocket**: A toothed wheel.\n\n- **Idle hum** - The sound a resting "
                   "widget makes.\n\n**Warp core** \u2014 The main power source.\n")[0]
    assert "Sprocket: A toothed wheel." in bold.text and "Idle hum: The sound a resting widget makes." in bold.text
    assert [e[0] for e in bold.metadata["glossary_entries"]] == ["Sprocket", "Idle hum", "Warp core"]
    deflist, tagged = md_page("# Glossary\n\nSprocket\n: A toothed wheel.\n\nIdle hum\n: The sound a resting "
                              "widget makes.\n\nWarp core (WC)\n: The main power source.\n")
    assert "Warp core (WC): The main power source." in deflist.text and "\n: " not in deflist.text
    assert ["Warp core (WC)", "Warp core", "WC"] in deflist.metadata["glossary_entries"]
    assert "Sprocket" in next(iter(tagged.values()))


def test_a_tutorial_with_term_headings_is_not_a_glossary():
    page, tagged = md_page("# Chat templates\n\nIn this unit we build a chat bot step by step.\n\n"
                           "## Chat templates\n\nFirst we load the tokenizer.\n\n## System messages\n\n"
                           "Then we add a system message.\n\n## Tool use\n\nFinally we call a tool.\n", "unit-3")
    assert "glossary_entries" not in page.metadata and tagged == {}
    page, tagged = md_page("# Glossary\n\n## How to add a term\n\nOpen a pull request.\n\n"
                           "## Why we keep one\n\nSo words mean one thing.\n")
    assert tagged == {}  # guide-like headings are not terms, and two are not a glossary


# -- formats ---------------------------------------------------------------------------------

def test_html_keeps_headings_and_drops_scripts_nav_and_footer():
    html = """<html><head><title>Widget | Example Docs</title><script>window.track = 1;</script></head><body>
    <nav><a href="/">Home</a> <a href="/docs">Docs</a> <a href="/pricing">Pricing</a></nav>
    <main><article><h1>Widget</h1>
    <p>A widget is a small reusable part of a user interface that shows one piece of information.</p>
    <h2>How it works</h2><p>Widgets are placed on a page and refresh themselves when their data changes.</p>
    <p>Start your free trial today</p></article></main>
    <footer>Copyright 2024 Example Inc. All rights reserved.</footer><script>track()</script></body></html>"""
    title, text, front, removed = clean_html(html)
    assert title == "Widget"
    assert "# Widget" in text and "## How it works" in text
    assert "A widget is a small reusable part" in text
    for gone in ("window.track", "track()", "Pricing", "Copyright", "free trial"):
        assert gone not in text
    assert [r.reason for r in removed] == ["call to action"]


def test_mdx_multiline_tags_admonitions_and_comments():
    mdx = ("---\ntitle: Adapters\n---\nimport Tabs from '@theme/Tabs';\n\n# Adapters\n\n{/* hidden note */}\n"
           "<Tabs\n  groupId=\"lang\"\n  values={[1, 2]}>\n\nAn adapter is a small trainable layer.\n\n"
           ":::tip Keep them small\nRank 8 is a common start.\n:::\n\n<Card title=\"See LoRA\" href=\"/lora\" />\n"
           "</Tabs>\n\n```python\nimport torch  # code stays\n```\n")
    title, text, front, _ = clean_markdown(mdx)
    assert title == "Adapters"
    assert "groupId" not in text and "values=" not in text and "hidden note" not in text
    assert "An adapter is a small trainable layer." in text
    assert "Keep them small" in text and ":::" not in text
    assert "See LoRA" in text and "<Card" not in text
    assert "import torch  # code stays" in text


def test_mkdocs_admonitions_and_figures_read_as_prose():
    """MkDocs Material admonitions ('!!! note "Title"', collapsible '??? info' and '???+ info') keep their body
    as the page's prose and their quoted title, not the marker; an image alone on its line (a figure whose alt
    text is a file name or a caption of a picture kb cannot show) goes, with its reason."""
    md = ("# Sharding\n\n![loss_curve](img/loss.png)\n![loss_curve](img/time.png)\n\n"
          "???+ info\n\n    Two nodes finish the run in half the time of one.\n\n"
          "    ![eval_plot](img/eval.png)\n\n"
          "!!! warning \"Mind the network\"\n    Slow links between nodes undo the gain.\n\n"
          "Sharding splits the weights across devices.\n\n```text\n    ??? not an admonition in code\n```\n")
    title, text, _, removed = clean_markdown(md)
    assert "Two nodes finish the run in half the time of one." in text.splitlines()
    assert "Slow links between nodes undo the gain." in text.splitlines()
    assert "Mind the network" in text and "!!!" not in text and "???+" not in text and "info" not in text
    assert "loss_curve" not in text and "eval_plot" not in text
    assert [r.reason for r in removed].count("an image") == 3
    assert "    ??? not an admonition in code" in text


def test_an_faq_of_bold_questions_gets_a_heading_per_question():
    """'**Q: ...**' then '> A: ...': each question heads its answer one level below its section, and the answer
    loses its 'A:' label; a bold line in code, or one that is no question, stays as it was."""
    md = ("# Help\n\n## Training\n\n**Q: the run stops with status 137**\n\n> A: The host ran out of memory.\n\n"
          "**Q: Can I resume from a checkpoint?**\n\nAnswer: Yes, pass the folder to `--resume`.\n\n"
          "**Important: keep the seed fixed.**\n\n```md\n**Q: in code**\n```\n")
    _, text, _, _ = clean_markdown(md)
    lines = text.splitlines()
    assert "### the run stops with status 137" in lines and "The host ran out of memory." in lines
    assert "### Can I resume from a checkpoint?" in lines and "Yes, pass the folder to `--resume`." in lines
    assert "Important: keep the seed fixed." in lines and "**Q: in code**" in lines
    assert not [x for x in lines if x.startswith(("A:", "Answer:"))]


def test_a_tab_holding_only_imported_components_goes_with_its_label():
    """'<Tab label="Rust client">' around '<RustSnippet/>' shows a component kb never sees: its label stood alone
    as a line of text. A tab with its own text keeps its label and text; code is left alone."""
    mdx = ("import RustSnippet from './rust.mdx';\n\n# Clients\n\n<Tabs>\n  <Tab value=\"rs\" label=\"Rust client\">\n"
           "    <RustSnippet/>\n  </Tab>\n  <Tab value=\"py\" label=\"Python client\">\n"
           "    The Python client retries three times.\n  </Tab>\n</Tabs>\n\n"
           "```jsx\n<Tab label=\"kept\">\n<X/>\n</Tab>\n```\n")
    _, text, _, _ = clean_markdown(mdx)
    assert "Rust client" not in text
    assert "Python client" in text and "The Python client retries three times." in text
    assert '<Tab label="kept">' in text


def test_a_contents_list_of_in_page_links_goes_and_its_headings_stay():
    """'- [Tuning](#tuning)' is the page's own table of contents: it was quoted as 'Tuning (#tuning)'. An
    in-page link inside prose keeps its text, and a list item linking elsewhere keeps its address."""
    md = ("# Methods\n\n- [Rank tuning](#rank-tuning)\n- [Alpha tuning](#alpha-tuning)\n\n## Rank tuning\n\n"
          "Rank tuning uses the same data as [alpha tuning](#alpha-tuning).\n\n- [Adapter guide](adapters.md)\n")
    _, text, _, removed = clean_markdown(md)
    assert "(#" not in text and "- Rank tuning" not in text
    assert "## Rank tuning" in text and "Rank tuning uses the same data as alpha tuning." in text
    assert "- Adapter guide (adapters.md)" in text
    assert [r.reason for r in removed].count("a contents link") == 2


def test_headings_written_as_elements_become_headings():
    # an MDX component rendered as a heading, on one line or around its title, and an HTML heading; a
    # heading-like element in code, a component with no heading level and one with text after it stay text
    mdx = ("# Limits\n\n<SectionTab as=\"h2\" sectionId=\"json\">JSON mode</SectionTab>\n\n- Output is valid JSON.\n\n"
           "<SectionTab as='h3' sectionId=\"v\">\n  Vision\n  inputs\n</SectionTab>\n\nImages up to 20 MB.\n\n"
           "<h2 id=\"s\">Streaming <em>limits</em></h2>\n\nTen minutes.\n\n```html\n<h2>in code</h2>\n```\n\n"
           "<Callout>Not a heading</Callout>\n\n<Tab as=\"h2\">Tab</Tab> and more words\n")
    _, text, _, _ = clean_markdown(mdx)
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("#")] == ["# Limits", "## JSON mode", "### Vision inputs",
                                                                "## Streaming limits"]
    assert "<h2>in code</h2>" in lines and "Not a heading" in lines and "Tab and more words" in lines


def test_faq_questions_in_attributes_head_their_answers_and_a_code_comment_is_no_title():
    mdx = ("```py\n# load the data\n```\n\n<SectionTab sectionId=\"faq\">FAQ</SectionTab>\n\n<Faq>\n"
           "  <FaqItem question=\"Is the API compatible with the OpenAI format?\">\n\nYes, it is.\n"
           "  </FaqItem>\n</Faq>\n")
    title, text, _, _ = clean_markdown(mdx)
    assert title == ""  # not 'load the data': the page's title comes from elsewhere (its file name)
    assert "## FAQ\n\n### Is the API compatible with the OpenAI format?\n\nYes, it is." in text


def test_markdown_escapes_read_as_their_characters_outside_code():
    text = clean_markdown("The default is 3 \\* the number of GPUs; \\_t is a token and `a \\* b` is code.\n\n"
                          "| flag | meaning |\n|---|---|\n| `-v` | a \\| b |\n\n```\nx \\* y\n```\n")[1]
    assert "3 * the number of GPUs; _t is a token and `a \\* b` is code." in text
    assert "x \\* y" in text  # code keeps what it says
    assert "a \\| b" in text  # an escaped pipe is no cell border (the table rules read it)


def test_text_dump_headings_and_title_forms():
    raw = RawDoc(source="/x/page.txt", kind="txt", modified="", content_hash="", text=(
        "What is Widget Caching?\n\nQuick Definition:Widget caching is keeping rendered widgets in memory.\n\n"
        "How It Works\n\nThe cache holds each widget until its data changes, then renders it again.\n"))
    page, _ = clean_doc(raw)
    assert page.metadata["term"] == "Widget Caching"
    assert "Quick Definition: Widget caching is" in page.text
    assert "## How It Works" in page.text


def test_a_lead_in_gets_the_subsection_headings_it_announces():
    from ingest.chunk import chunk_page
    from kb.types import Page

    text = ("# Models\n\nThere are three main types of models:\n\n## 1. Base models\n\nBase models complete text.\n\n"
            "## 2. Instruct models\n\nInstruct models follow instructions.\n\n## 3. RL-tuned models\n\n"
            "RL-tuned models learn from rewards.\n\n## Choosing\n\nPick by task.")
    chunks = chunk_page(Page(source="/t.txt", title="Models", text=text))
    assert chunks[0].text == ("There are three main types of models:\n1. Base models\n2. Instruct models\n"
                              "3. RL-tuned models")
    nested = ("# Guide\n\n## Kinds\n\nThe kinds are:\n\n### Dense\n\nEvery parameter works.\n\n#### Detail\n\nMore.\n\n"
              "### Sparse\n\nA few experts work.\n\n## Next\n\nNothing is announced here.")
    chunks = chunk_page(Page(source="/g.md", title="Guide", text=nested))
    assert chunks[0].text == "The kinds are:\n- Dense\n- Sparse"
    assert chunks[-1].text == "Nothing is announced here."


def test_code_lines_marks_fences_and_what_they_hold():
    """The one pass every prose rule (tables, display math, wrapped tags) asks which lines are code."""
    from ingest.fences import code_lines

    lines = ["text", "```python", "| a | b |", "```", "after", "~~~", "$$x$$", "never closed"]
    assert code_lines(lines) == [False, True, True, True, False, True, True, True]
    assert clean_markdown("intro\n\n```\n| a | b |\n|---|---|\n| 1 | 2 |\n```\n")[1].count("| a | b |") == 1


def test_footnote_marks_go_and_footnotes_keep_their_text():
    text = clean_markdown("Two 24GB cards can train a 70b model with sharding[^1].\n\n"
                          "[^1]: The sharding work came from a research lab.\n\n```\nx = a[^1]\n```\n")[1]
    assert "Two 24GB cards can train a 70b model with sharding." in text
    assert "\nThe sharding work came from a research lab." in text
    assert "x = a[^1]" in text  # code keeps what it says


def test_a_tag_shown_as_inline_code_is_kept():
    text = clean_markdown("Padding tokens look like `PAD`, `<pad>` or id `0`; <b>bold</b> and <Note>a note</Note> "
                          "are markup, and `<think>...</think>` wraps the reasoning.\n")[1]
    assert "`PAD`, `<pad>` or id `0`; bold and a note are markup, and `<think>...</think>` wraps" in text


def test_emphasis_and_links_are_markup_only_outside_inline_code():
    text = clean_markdown("Override `__init__` and pass `**kwargs` to `f(**a, **b)`; **bold** and "
                          "[the guide](https://example.org/guide) read as text. **Set `x` first.**\n")[1]
    assert ("Override `__init__` and pass `**kwargs` to `f(**a, **b)`; bold and the guide read as text. "
            "Set `x` first.") in text
