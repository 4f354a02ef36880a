"""Docs folders as they really are: reStructuredText, Quarto, notebooks, and an outcome for every file.

The small pages below are written for these tests; each construct the readers
handle has a line here. The realdocs tests ingest ../shared/realdocs once (skipped
when it is absent) and check the whole folder: every page added, no markup left
in any stored passage, the RST glossary's entries routed to.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from ingest.clean import clean_doc
from ingest.read import RawDoc
from tests.conftest import ROOT
from tests.helpers import KB

REALDOCS = ROOT.parent / "shared" / "realdocs"
# Markup a reader would see as noise: directives, roles, '::' endings, ':::' fences, substitutions,
# Quarto cell options, attributes and shortcodes. Code blocks are quoted verbatim and not checked.
MARKUP = re.compile(r"^\s*\.\.\s+[\w:-]+::|:[\w:+.-]+:`|::\s*$|^\s*:::|(?<![<\w])\|[A-Za-z][\w -]*\|(?![>\w])"
                    r"|^\s*#\||\{[.#][\w-]|\{\{<|@(?:sec|fig|tbl)-\w")


def page(text: str, kind: str, name: str = "page"):
    return clean_doc(RawDoc(source=f"/docs/{name}.{kind}", text=text, kind=kind, modified="", content_hash=""))[0]


def prose(text: str) -> list[str]:
    """Lines outside fenced code blocks."""
    out, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        elif not fence:
            out.append(line)
    return out


def markup_in(text: str) -> list[str]:
    return [line for line in prose(text) if MARKUP.search(line)]


RST = """\
.. _top-label:

=================
Widget handbook
=================

:orphan:

.. |product| replace:: Widgetron

The |product| handbook. Undefined |nosuch| substitutions read as their name.

.. toctree::
   :maxdepth: 2

   install
   usage

.. include:: ../shared/snippet.rst

Setting up
==========

.. note::
   Widgets need a power socket.

.. warning:: Never open a widget while it hums.

.. tip:: Label every widget.

See :ref:`the tuning section <tuning>` and :ref:`tuning`, the class :class:`~widgets.core.Widget`,
the function :func:`widgets.make`, the page :doc:`guides/first-steps` and :doc:`the FAQ <faq>`.
:octicon:`rocket;1em;` Icons are dropped.

.. code-block:: python
   :linenos:
   :caption: Making one

   w = make()

A literal block follows::

    plain literal text

.. autoclass:: widgets.core.Widget
   :members:

.. seealso:: The gadget handbook covers gadgets.

.. versionadded:: 2.1
   Widgets can sleep.

.. grid:: 2

   .. grid-item-card:: :octicon:`book` Quick start

      Start with one widget.

.. _tuning:

Tuning
------

Grid tables:

+----------+---------------------------+
| Knob     | Effect                    |
+==========+===========================+
| speed    | How fast the widget spins |
+----------+---------------------------+
| colour   | What colour it glows      |
+----------+---------------------------+

=======  =====  ========
Mode     Watts  Noise
=======  =====  ========
eco      5      silent
turbo    40     loud
=======  =====  ========

.. list-table:: Sizes
   :header-rows: 1

   * - Size
     - Use
   * - small
     - desks
   * - large
     - floors

.. csv-table:: Prices
   :header: "Item", "Price"

   "widget", "10"
   "gadget", "12"

hum
    The sound a widget makes when idle.

Glossary
--------

.. glossary::

   sprocket
   cog
      A toothed wheel inside a widget that turns the spindle.

   spindle
      The shaft a widget spins on.
"""


def test_rst_titles_sections_and_directives_become_readable_text():
    p = page(RST, "rst", "handbook")
    text = p.text
    assert p.title == "Widget handbook" and text.startswith("# Widget handbook")
    assert "\n## Setting up\n" in text and "\n### Tuning\n" in text and "\n### Glossary\n" in text
    assert "The Widgetron handbook." in text and "Undefined nosuch substitutions" in text
    assert "Note: Widgets need a power socket." in text
    assert "Warning: Never open a widget while it hums." in text and "Tip: Label every widget." in text
    assert ("See the tuning section and Tuning, the class `Widget`, the function `widgets.make`, the page "
            "first steps and the FAQ.") in text
    assert "Icons are dropped." in text and "rocket;" not in text and " rocket" not in text
    assert "Making one\n\n```python\nw = make()\n```" in text
    assert "A literal block follows:\n\n```\nplain literal text\n```" in text
    assert "See also: The gadget handbook covers gadgets." in text
    assert "New in version 2.1: Widgets can sleep." in text
    assert "Quick start" in text and "Start with one widget." in text
    for gone in ("install", "usage", "snippet", "maxdepth", "widgets.core.Widget", "members", "linenos", "orphan"):
        assert gone not in text, gone
    assert not markup_in(text), markup_in(text)


def test_rst_tables_and_definition_lists_keep_term_definition_pairs():
    text = page(RST, "rst", "handbook").text
    assert "speed: How fast the widget spins" in text and "colour: What colour it glows" in text  # grid
    assert "Mode: eco; Watts: 5; Noise: silent" in text  # simple table, three columns
    # list-table, csv-table: a second column of values keeps its header (a bare 'widget: 10' says not what 10 is)
    assert "Sizes" in text and "Size: small; Use: desks" in text and "Size: large; Use: floors" in text
    assert "Prices" in text and "Item: widget; Price: 10" in text
    assert "hum: The sound a widget makes when idle." in text  # definition list


def test_rst_glossary_entries_are_term_records():
    from ingest.chunk import chunk_page

    p = page(RST, "rst", "handbook")
    assert "\n#### sprocket / cog\n\nA toothed wheel" in p.text and "\n#### spindle\n\nThe shaft" in p.text
    entries = {c.section: c.metadata.get("entries") for c in chunk_page(p) if c.metadata.get("entries")}
    assert entries == {"sprocket / cog": "sprocket; cog", "spindle": "spindle"}


GLOSSARY_RST = """\
Glossary
========

Abbreviations
-------------

=====  ==========================
Short  Meaning
=====  ==========================
GPU    Graphics Processing Unit
KV     Key and value
=====  ==========================

Terms
-----

| *Flux capacitor*
|   The part that makes time travel possible in the story.

| *Warp core / core*
|   The engine room's main power source.
"""


def test_a_page_titled_glossary_makes_tables_and_line_block_pairs_entries():
    from ingest.chunk import chunk_page

    p = page(GLOSSARY_RST, "rst", "glossary")
    assert "GPU: Graphics Processing Unit" in p.text and "\n### Flux capacitor\n" in p.text
    tags = [c.metadata.get("entries", "") for c in chunk_page(p)]
    assert any("GPU" in t and "KV" in t for t in tags)
    assert "Flux capacitor" in tags and "Warp core; core" in tags


def test_rst_that_docutils_cannot_parse_cleanly_loses_no_run():
    p = page("Broken\n======\n\n.. unknown-thing:: arg\n   :opt: 1\n\n   Kept words.\n\n+--+\n| x\n", "rst")
    assert "Kept words." in p.text and not markup_in(p.text)
    assert "ERROR" not in p.text and "System Message" not in p.text


# Blocks docutils rejects whole (a report replaces them in its tree): their words are read from the source lines.
BROKEN_BLOCKS_RST = """\
Spares
======

.. list-table:: Spare parts
   :header-rows: 1

   * - Part
     - Stock
     - Shelf
   * - flange
     - 12
     - B4
   * - gasket
     - 3

+-----------+--------------+-------------------+
| Gauge     | Before       | After |
+===========+==============+===================+
| Drift (mm)| 0.40         | 0.12 (70% less)   |
+-----------+--------------+-------------------+

.. csv-table:: Suppliers
   :header: "Name", "Town"

   "Acme", "Leeds", "spare column"
   "Bolt & Co"

.. note::
   :collapsible: open

   Flanges rust when stored wet.

.. figure:: shelf.png
   :sparkle: yes

   Shelf B4 holds the flanges.

.. warning::

Words after an empty warning stay.
"""


def test_rst_blocks_docutils_rejects_keep_their_words():
    text = page(BROKEN_BLOCKS_RST, "rst", "spares").text
    assert "Spare parts" in text and "Part: flange; Stock: 12; Shelf: B4" in text
    assert "Part: gasket; Stock: 3" in text  # a row short of cells keeps what it has
    assert "Gauge: Drift (mm); Before: 0.40; After: 0.12 (70% less)" in text  # right border out of line
    assert "Suppliers" in text and "Name: Acme; Town: Leeds" in text and "Bolt & Co" in text
    assert "Note: Flanges rust when stored wet." in text and "collapsible" not in text
    assert "Shelf B4 holds the flanges." in text and "shelf.png" not in text and "sparkle" not in text
    assert "Words after an empty warning stay." in text and "Warning:" not in text
    assert not markup_in(text), markup_in(text)
    assert "+---" not in text and "ERROR" not in text


def test_realdocs_rst_blocks_docutils_rejects_lose_no_words():
    """Two realdocs tables (a list-table row short of cells, a grid table's border out of line) were left out."""
    from docutils import nodes

    from ingest.rst import parse

    if not REALDOCS.is_dir():
        pytest.skip("../shared/realdocs is absent")
    lost, rejected = {}, 0
    for path in sorted(REALDOCS.glob("*.rst")):
        source = path.read_text()
        text = page(source, "rst", path.stem).text
        words = set(re.findall(r"[A-Za-z0-9][\w.%-]*[A-Za-z0-9%]", text))
        for msg in parse(source, str(path)).findall(nodes.system_message):
            block = next((c.astext() for c in msg.children if isinstance(c, nodes.literal_block)), "")
            if msg.get("level", 0) < 3 or not block:
                continue
            rejected += 1
            block = re.sub(r"^\s*(?:\.\. [\w:-]+::|:[\w-]+:.*$)", "", block, flags=re.M)  # directive, options
            missing = set(re.findall(r"[A-Za-z0-9][\w.%-]*[A-Za-z0-9%]", block)) - words
            if missing:
                lost[path.name] = sorted(missing)[:10]
    assert rejected and not lost, lost


def test_rst_backslash_escapes_read_as_their_characters():
    """docutils keeps a backslash escape as a NUL byte in a text node's str(); a torchtune page's
    '\\- the dimensions ...' put that byte into a quote (and made the eval report binary)."""
    text = page("Ranks\n=====\n\n* ``lora_rank << out_dim``\n  \\- the dimensions of a layer, and 3 \\* 4\\ th.\n",
                "rst", "ranks").text
    assert "\x00" not in text
    assert "`lora_rank << out_dim` - the dimensions of a layer, and 3 * 4th." in text


QMD = """\
---
title: "Gizmo guide"
description: How gizmos work
format:
  html:
    toc: true
---

## Setup {#sec-setup}

Read @sec-tuning first, then see [-@fig-gizmo] and @tbl-missing.

::: {.callout-tip}
## Charge it first
A gizmo ships empty.
:::

::: {.callout-warning title="Mind the cable"}
Unplug before cleaning.
:::

::: callout-note
Plain notes work too.
:::

::: {.panel-tabset}
## Linux
Use the package.
## macOS
Use the bundle.
:::

```{python}
#| label: fig-gizmo
#| echo: false
print("spin")
```

:::{.cell-output .cell-output-stdout}
    spin
:::

```{=html}
<div>raw html</div>
```

![A spinning gizmo](gizmo.png){#fig-gizmo width=50%}

[Small caps]{.smallcaps} text. {{< include _footer.qmd >}}

## Tuning {#sec-tuning}

Turn the dial.
"""


def test_quarto_front_matter_callouts_cells_and_crossrefs():
    p = page(QMD, "qmd", "gizmo")
    text = p.text
    assert p.title == "Gizmo guide" and p.metadata["description"] == "How gizmos work"
    assert "## Setup\n" in text and "## Tuning\n" in text
    assert "Read Tuning first, then see A spinning gizmo and Table missing." in text
    assert "Tip: Charge it first" in text and "A gizmo ships empty." in text
    assert "Warning: Mind the cable\nUnplug before cleaning." in text
    assert "Note: Plain notes work too." in text
    assert "Use the package." in text and "Use the bundle." in text
    assert '```python\nprint("spin")\n```' in text  # code kept as code, its options gone
    assert "    spin" not in text and "raw html" not in text  # cell output and raw blocks dropped
    assert "Small caps text." in text and "_footer" not in text
    assert not markup_in(text), markup_in(text)


def test_r_markdown_chunks_read_like_quarto():
    text = page("---\ntitle: Report\n---\n\n```{r setup, include=FALSE}\nlibrary(x)\n```\n\nWords here.\n",
                "qmd", "report").text
    assert "```r\nlibrary(x)\n```" in text and "Words here." in text


def notebook(cells: list[dict]) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})


def test_notebook_markdown_cells_are_the_page_and_code_cells_are_dropped():
    nb = notebook([
        {"cell_type": "raw", "metadata": {}, "source": "---\ntitle: Sprocket lab\n---"},
        {"cell_type": "markdown", "metadata": {}, "source": ["# Sprocket lab\n", "\n", "A sprocket turns a chain."]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "import sprockets",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "Traceback noise"}]},
        {"cell_type": "markdown", "metadata": {}, "source": "## Results\n\nThe chain moved."},
    ])
    p = page(nb, "ipynb", "lab")
    assert p.title == "Sprocket lab"
    assert "A sprocket turns a chain." in p.text and "## Results" in p.text and "The chain moved." in p.text
    assert "import sprockets" not in p.text and "Traceback" not in p.text


# -- every file gets an outcome -------------------------------------------------------------------

def test_every_file_under_a_folder_gets_an_outcome(tmp_path, settings, embedder):
    from ingest.pipeline import run_ingest
    from kb.store import Store

    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / ".git").mkdir()
    (docs / ".git" / "HEAD").write_text("ref")
    (docs / "good.md").write_text("# Widget\n\nA widget is a small reusable part of a dashboard page.\n")
    (docs / "sub" / "page.rst").write_text("Gadget\n======\n\nA gadget is a tool people use at work.\n")
    (docs / "logo.png").write_bytes(b"\x89PNG")
    (docs / "notes.adoc").write_text("= Notes\n\nSome notes.\n")
    (docs / ".hidden.md").write_text("# Hidden\n")
    (docs / "SOURCES.md").write_text("# Sources\n\nWhere these pages came from, one link each.\n")
    (docs / "bad.ipynb").write_text("{not json")
    report = run_ingest([str(docs)], settings, Store(settings), embedder, progress=False, exclude=["SOURCES.md"])
    reasons = {Path(s.source).name: s.reason for s in report.skipped}
    assert sorted(Path(p).name for p in report.added) == ["good.md", "page.rst"]
    assert reasons["logo.png"].startswith("unsupported file type '.png'")
    assert reasons["notes.adoc"].startswith("AsciiDoc is not supported")
    assert reasons[".hidden.md"] == "hidden file" and reasons[".git"].startswith("hidden or vendored folder")
    assert reasons["SOURCES.md"] == "excluded by --exclude"
    assert reasons["bad.ipynb"].startswith("could not be parsed: not a valid notebook")
    assert report.failed  # the notebook; the rest alone would not fail the run
    assert report.to_dict()["skipped_by_reason"]["excluded by --exclude"] == 1
    only = run_ingest([str(docs)], settings, Store(settings), embedder, progress=False, include=["*.rst"])
    assert not only.failed and only.unchanged == [str((docs / "sub" / "page.rst").resolve())]
    assert {Path(s.source).name: s.reason for s in only.skipped}["good.md"] == "not matched by --include"


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*KB, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ))


def test_fifos_sockets_devices_and_symlink_loops_are_skipped_not_fatal(tmp_path):
    """Issue 14: a named pipe hung the run holding the lock; a symlink loop aborted it."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Widget\n\nA widget is a small reusable part of a dashboard page.\n")
    os.mkfifo(docs / "pipe.md")
    os.symlink(docs / "loop-b.md", docs / "loop-a.md")
    os.symlink(docs / "loop-a.md", docs / "loop-b.md")
    os.symlink(docs / "gone.md", docs / "dangling.md")
    os.symlink("/dev/null", docs / "null.md")
    os.symlink(docs, docs / "self")  # a folder that contains itself
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(docs / "kb.sock"))
    try:
        proc = run_cli("--store", str(tmp_path / "s"), "ingest", "--json", str(docs), str(docs / "loop-a.md"))
    finally:
        sock.close()
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    reasons = {Path(s["source"]).name: s["reason"] for s in report["skipped"]}
    assert reasons["pipe.md"].startswith("named pipe")
    assert reasons["loop-a.md"] == "symlink loop" and reasons["loop-b.md"] == "symlink loop"
    assert reasons["dangling.md"].startswith("broken symlink")
    assert reasons["null.md"].startswith("device")
    assert reasons["kb.sock"].startswith("socket")
    assert reasons["self"].startswith("symlink to a folder")
    assert [Path(p).name for p in report["added"]] == ["good.md"]
    assert proc.returncode == 1  # pipe.md and the loops are pages that could not be read
    # the lock was released: the next run starts at once
    again = run_cli("--store", str(tmp_path / "s"), "ingest", "--json", str(docs / "good.md"), timeout=120)
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"]


def test_cli_prints_skipped_counts_by_reason(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.png").write_bytes(b"\x89PNG")
    (docs / "b.png").write_bytes(b"\x89PNG")
    (docs / "c.txt").write_text("")
    proc = run_cli("--store", str(tmp_path / "s"), "ingest", str(docs), "--exclude", "c.*", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "skipped by reason: 2 unsupported file type '.png'; 1 excluded by --exclude" in proc.stdout


# -- the real docs folder -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def realdocs_store(tmp_path_factory, embedder, model_cache):
    if not REALDOCS.is_dir():
        pytest.skip("../shared/realdocs is absent")
    from tests.conftest import build_store

    return build_store(tmp_path_factory.mktemp("realdocs-store"), REALDOCS, embedder, model_cache)


def test_realdocs_every_page_is_added(realdocs_store):
    _, store, report = realdocs_store
    files = sorted(str(p.resolve()) for p in REALDOCS.rglob("*") if p.is_file())
    assert report.skipped == [] and not report.failed
    assert sorted(report.added + list(report.aliases)) == files  # a near-copy is recorded, not lost
    kinds = {c.metadata["kind"] for c in store.all_chunks()}
    assert {"md", "rst", "qmd"} <= kinds


def test_realdocs_no_markup_in_any_stored_passage(realdocs_store):
    _, store, _ = realdocs_store
    bad = {c.source.rsplit("/", 1)[-1] + " :: " + line for c in store.all_chunks() for line in markup_in(c.text)}
    assert not bad, sorted(bad)[:20]


def test_realdocs_rst_glossary_terms_route_to_their_entry(realdocs_store, embedder):
    from kb.retrieve import Corpus, Retriever

    s, store, _ = realdocs_store
    glossary = [c for c in store.all_chunks() if c.source.endswith("openvino__glossary.rst")]
    entries = {c.section: c.id for c in glossary if c.metadata.get("entries") and "###" not in c.section
               and c.section not in ("Acronyms and Abbreviations",)}
    assert len(entries) >= 15, entries
    retriever = Retriever(store, embedder, Corpus.load(store, s.cache_dir), candidates=s.candidates)
    missed = {}
    for term, chunk_id in entries.items():
        name = term.split(" / ")[0]
        top = retriever.retrieve(f"what is {name}?", k=3)[0].chunk
        if top.id != chunk_id:
            missed[name] = f"{top.title} - {top.section}"
    abbreviations = next(c for c in glossary if "CPU: Central Processing Unit" in c.text)
    for short in ("CPU", "NMS", "ReLU"):
        top = retriever.retrieve(f"What is {short}?", k=3)[0].chunk
        if top.id != abbreviations.id and "Acronyms" not in top.section:
            missed[short] = f"{top.title} - {top.section}"
    assert not missed, missed


# -- PDF and Word ---------------------------------------------------------------------------------
# The files are written here at run time: PDFs with fpdf2 (a test dependency), .docx with python-docx.

def make_pdf(path: Path, blocks: list[tuple[int, str]], *, title: str = "", outline: bool = False,
             user_password: str | None = None) -> Path:
    """A PDF of (font size, text) blocks; size 0 starts a new page. With `outline`, each size-14 block is a
    bookmark and is set in the body size, so only the outline says where sections start."""
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.add_page()
    for size, text in blocks:
        if size == 0:
            pdf.add_page()
            continue
        if outline and size == 14:
            pdf.start_section(text)
            continue
        pdf.set_font("Helvetica", size=size)
        pdf.multi_cell(w=0, text=text)
        pdf.ln(size * 0.8)
    pdf.output(str(path))
    if user_password is not None:
        from pypdf import PdfWriter

        writer = PdfWriter(clone_from=str(path))
        writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
        writer.write(str(path))
    return path


FERRY_PDF = [
    (22, "Harbour ferry manual"),
    (11, "The harbour ferry carries passengers between the two piers every twenty minutes."),
    (15, "Boarding the ferry"),
    (11, "Passengers board from the north pier after the crew lowers the ramp. " * 3
     + "Bicycles are loaded last and strapped to the rail by the stern."),
    (11, "A ticket is checked at the gate, not on board."),
    (0, ""),
    (15, "Bad weather"),
    (11, "When the wind is stronger than forty knots, the captain cancels the crossing and posts a notice."),
]


def test_pdf_headings_come_from_font_sizes_then_the_outline_then_pages(tmp_path):
    from ingest.pdf import pdf_to_markdown

    text = pdf_to_markdown(make_pdf(tmp_path / "ferry.pdf", FERRY_PDF, title="Ferry manual").read_bytes())
    assert text.startswith('---\ntitle: "Ferry manual"\n---')
    assert "\n# Harbour ferry manual\n" in text
    assert "\n## Boarding the ferry\n" in text and "\n## Bad weather\n" in text
    # the wrapped paragraph is one paragraph again, and the next one stays apart
    assert "meshes" not in text and ("Bicycles are loaded last and strapped to the rail by the stern.\n\n"
                                     "A ticket is checked") in text

    same_size = [(14, "Tides"), (11, "High tide floods the lower deck."), (0, ""), (14, "Moorings"),
                 (11, "Each mooring line is checked at dusk.")]
    outlined = pdf_to_markdown(make_pdf(tmp_path / "o.pdf", same_size, outline=True).read_bytes())
    assert outlined.index("## Tides") < outlined.index("High tide") < outlined.index("## Moorings") \
        < outlined.index("Each mooring line")

    plain = pdf_to_markdown(make_pdf(tmp_path / "p.pdf", [(11, "Gulls nest on the roof."), (0, ""),
                                                          (11, "Nets are dried on the quay.")]).read_bytes())
    assert plain.index("## Page 1") < plain.index("Gulls") < plain.index("## Page 2") < plain.index("Nets")


def test_docx_heading_styles_lists_and_tables_become_markdown(tmp_path):
    from ingest.word import docx_to_markdown

    text = docx_to_markdown(make_docx(tmp_path / "loom.docx").read_bytes())
    assert text.startswith('---\ntitle: "Loom care"\n---')
    assert "\n# Loom care\n" in text and "\n## Threading the warp\n" in text and "\n### Knots\n" in text
    assert "- Count the heddles.\n- Tie the warp to the back beam." in text
    assert "shuttle: the tool that carries the weft across" in text
    assert "Part: reed; Material: steel; Replace: yearly" in text


def make_docx(path: Path) -> Path:
    from docx import Document

    doc = Document()
    doc.core_properties.title = "Loom care"
    doc.add_heading("Loom care", 0)
    doc.add_paragraph("A floor loom weaves cloth from a warp held under tension and a weft passed across it.")
    doc.add_heading("Threading the warp", 1)
    doc.add_paragraph("Threading a loom takes most of a morning, so plan it before the weaving day.")
    doc.add_paragraph("Count the heddles.", style="List Bullet")
    doc.add_paragraph("Tie the warp to the back beam.", style="List Bullet")
    doc.add_heading("Knots", 2)
    doc.add_paragraph("A weaver's knot joins a broken warp thread without a bump in the cloth.")
    terms = doc.add_table(rows=1, cols=2)
    terms.cell(0, 0).text, terms.cell(0, 1).text = "shuttle", "the tool that carries the weft across"
    parts = doc.add_table(rows=2, cols=3)
    for i, (a, b) in enumerate([("Part", "reed"), ("Material", "steel"), ("Replace", "yearly")]):
        parts.cell(0, i).text, parts.cell(1, i).text = a, b
    doc.save(str(path))
    return path


def test_pdf_and_docx_are_ingested_and_unreadable_ones_skipped_with_reasons(tmp_path, settings, embedder):
    from ingest.pipeline import run_ingest
    from kb.engine import Engine
    from kb.store import Store

    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "ferry.pdf", FERRY_PDF)
    make_docx(docs / "loom.docx")
    make_pdf(docs / "locked.pdf", FERRY_PDF, user_password="s3cret")
    make_pdf(docs / "scan.pdf", [(0, "")])  # pages without a text layer
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 cut off here")
    (docs / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (docs / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0 an OLE file")
    store = Store(settings)
    report = run_ingest([str(docs)], settings, store, embedder, progress=False)
    assert sorted(Path(p).name for p in report.added) == ["ferry.pdf", "loom.docx"]
    reasons = {Path(s.source).name: s for s in report.skipped}
    assert reasons["locked.pdf"].reason.startswith("encrypted PDF (it needs a password)")
    assert reasons["scan.pdf"].reason.startswith("no text layer")
    assert reasons["broken.pdf"].reason.startswith("could not be parsed")
    assert reasons["broken.docx"].reason.startswith("could not be parsed: not a valid .docx")
    assert reasons["old.doc"].rule and "save it as .docx" in reasons["old.doc"].reason
    assert report.failed and not any(reasons[n].rule for n in ("locked.pdf", "scan.pdf", "broken.pdf"))
    sections = {(Path(c.source).name, c.section) for c in store.all_chunks()}
    assert {("ferry.pdf", "Boarding the ferry"), ("ferry.pdf", "Bad weather"), ("loom.docx", "Knots"),
            ("loom.docx", "Threading the warp")} <= sections
    hits = Engine(settings, store=store, embedder=embedder).search("when is the ferry crossing cancelled?", 3)
    assert hits[0].chunk.section == "Bad weather" and "forty knots" in hits[0].chunk.text
    again = run_ingest([str(docs)], settings, store, embedder, progress=False)
    assert sorted(Path(p).name for p in again.unchanged) == ["ferry.pdf", "loom.docx"]  # incremental as any page


def test_pdf_and_docx_urls_are_fetched_and_converted(tmp_path):
    from ingest.fetch import DOCX_TYPE, fetch_urls
    from tests.helpers import Recorder

    files = {"/manual": ("application/pdf", make_pdf(tmp_path / "f.pdf", FERRY_PDF).read_bytes()),
             "/loom.docx": ("application/octet-stream", make_docx(tmp_path / "l.docx").read_bytes()),
             "/loom": (DOCX_TYPE, (tmp_path / "l.docx").read_bytes()),
             "/blob": ("application/octet-stream", b"%PDF-1.4")}

    def handler(method, path, headers, body):
        kind, data = files[path]
        return 200, {"content-type": kind}, data

    with Recorder(handler) as server:
        docs, failed = fetch_urls([server.url + p for p in files])
    kinds = {d.source.rsplit("/", 1)[-1]: d for d in docs}
    assert kinds["manual"].kind == "pdf" and "\n## Bad weather\n" in kinds["manual"].text
    assert kinds["loom.docx"].kind == kinds["loom"].kind == "docx" and "\n### Knots\n" in kinds["loom"].text
    assert [(f.source.rsplit("/", 1)[-1], f.reason.split(" (")[0]) for f in failed] == [
        ("blob", "unsupported content type 'application/octet-stream'")]


def test_realdocs_markdown_glossary_entries_route_to_their_entry(realdocs_store, embedder):
    """Every entry of the Markdown glossary (headings like '### Block (KV Block)'), asked "what is X"
    by its name and by each other name, retrieves that entry's chunk first."""
    from kb.retrieve import Corpus, Retriever

    s, store, _ = realdocs_store
    glossary = [c for c in store.all_chunks() if c.source.endswith("inferencesim__glossary.md")]
    names = {name: c.id for c in glossary for name in str(c.metadata.get("entries", "")).split("; ") if name}
    headings = {c.section for c in glossary if c.section.startswith(tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))}
    assert len(names) >= 60 and len(headings) >= 50, (len(names), len(headings))  # every '###' entry is tagged
    retriever = Retriever(store, embedder, Corpus.load(store, s.cache_dir), candidates=s.candidates)
    missed = {}
    for name, chunk_id in names.items():
        top = retriever.retrieve(f"what is {name}?", k=3)[0].chunk
        if top.id != chunk_id:
            missed[name] = f"{top.source.rsplit('/', 1)[-1]} - {top.section}"
    assert not missed, missed


def test_realdocs_refusal_calibration_holds_on_the_set(realdocs_store, embedder):
    """kb/scope.py on the real pages: the out-of-scope questions are refused, and no more than 3% of the
    answerable ones. Mixtral's context window and Mamba's state-space layer use only words the pages
    have; the fact test refuses them (the name never meets the asked attribute). Mixtral's expert count
    is the known miss: a glossary sentence on routing tokens to experts sits next to one naming Mixtral."""
    from eval.cases import load_set
    from kb.engine import Engine

    s, store, _ = realdocs_store
    engine = Engine(s, store=store, embedder=embedder)
    cases = load_set(ROOT / "eval" / "sets" / "realdocs.yaml").cases
    known_misses = {"How many experts does Mixtral route each token to?"}
    wrong_refusals, answered = [], []
    for case in cases:
        scope = engine.scope(case.question, engine.search(case.question))
        if case.refuse and scope.in_scope and case.question not in known_misses:
            answered.append(case.question)
        if not case.refuse and not scope.in_scope:
            wrong_refusals.append((case.question, scope.reason))
    assert not answered, answered
    assert len(wrong_refusals) <= 0.03 * sum(not c.refuse for c in cases), wrong_refusals


# Near-topic probes for the fact test, written for it (not eval items): a model or benchmark the pages
# name, with an attribute they never state about it (grep over ../shared/realdocs: Mathstral, Pixtral
# and Mixtral 8x7B appear only in download tables, links and commands; no MMLU row for Mixtral; no
# context length, licence, tokens or languages next to Mathstral, Codestral Mamba, Nemo or Codestral 22B),
# and the same shape where a page does state it (a context-length table, a model-card table, a
# licence note, the Ollama FAQ, the DeepSeek-V3 and Mistral READMEs).
FACT_PROBES_OUT = [
    "What is Mathstral 7B's context length?", "What context window does Pixtral 12B support?",
    "How many experts does Mixtral 8x22B activate for each token?", "How many attention heads does DeepSeek-V3 have?",
    "How much GPU memory does Mistral Large 2 need?", "Which programming languages does Codestral 22B support?",
    "In what year was llama.cpp founded?", "What MMLU score does Mixtral 8x7B get?",
    "How many tokens was Mistral Nemo trained on?", "What is the vocabulary size of Mathstral's tokenizer?",
    "How many GPU hours did Mixtral 8x7B's pre-training take?", "What is Codestral Mamba's context length?",
    "Which license does Mathstral use?",
]
FACT_PROBES_IN = [
    "What is Mistral Nemo 12B's context length?", "What context window does Codestral support?",
    "How many parameters does DeepSeek-V3 activate for each token?", "What is DeepSeek-V3's context length?",
    "How many GPUs does the 12B Mistral Nemo model need?", "Can Mixtral 8x22B run on a single GPU?",
    "Who founded llama.cpp?", "What MMLU score does DeepSeek-V3 get?",
    "How many tokens was DeepSeek-V3 pre-trained on?", "What vocabulary size does Mixtral 8x22B v0.3 have?",
    "How many GPU hours did DeepSeek-V3's pre-training take?", "What embedding dimension does mistral-embed produce?",
    "Which port does Ollama listen on by default?", "Which license does Codestral 22B use?",
]


def test_realdocs_fact_test_on_near_topic_probes(realdocs_store, embedder):
    """The fact test beyond the eval set's three questions: no probe the pages answer is refused, and
    the probes whose attribute is never stated next to a rarely named model are (6 of 13 at calibration with
    int8 vectors, 5 with the default fp32 ones, where "Mathstral 7B's context length" scores 0.616, just above
    scope_relevance; the others name a topic many pages use, score above scope_relevance, or meet a stray
    attribute word near the name, e.g. "tokens" near "Nemo" in a tokenizer snippet)."""
    from kb.engine import Engine

    s, store, _ = realdocs_store
    engine = Engine(s, store=store, embedder=embedder)
    verdicts = {q: engine.scope(q, engine.search(q)) for q in FACT_PROBES_OUT + FACT_PROBES_IN}
    assert not [q for q in FACT_PROBES_IN if not verdicts[q].in_scope], \
        {q: verdicts[q].reason for q in FACT_PROBES_IN if not verdicts[q].in_scope}
    refused = [q for q in FACT_PROBES_OUT if not verdicts[q].in_scope]
    assert len(refused) >= 5, refused
    assert "Which license does Mathstral use?" in refused and "What context window does Pixtral 12B support?" in refused
