"""A table row as one line a reader (and a quote) can take out of its table.

A quote is read without the page around it, so a row must carry its own labels: a cell
'128K' says nothing until it reads 'Context length: 128K'. Markdown (ingest/clean.py),
reStructuredText (ingest/rst.py) and Word (ingest/word.py) tables all go through
`row_line`, so every format writes rows the same way:

- a table of any width keeps its header as labels: 'Header: cell; Header: cell';
- a two-column table of terms and what they mean ('Issue | Fix', 'Parameter | What it
  controls', a glossary's 'Term | Definition', or a second column of prose) reads
  'term: meaning', the shape of a definition;
- a row header (a table whose top-left header cell is empty: attributes down the side,
  things compared across the top) leads the row: 'Weight — Mini: 200 g; Max: 450 g';
- an empty cell, or one that is only a dash, is left out;
- a row with more cells than the header (a stray pipe) gets the extra cells joined to the
  last labelled one, never a bare 'value; value'.
"""

from __future__ import annotations

import re

# What a second column holds when the table pairs terms with what they mean.
MEANING_HEADER = re.compile(
    r"^(?:description|descriptions|meaning|definition|definitions|explanation|explained|details?|notes?|summary|"
    r"purpose|fix|fixes|solution|solutions|remedy|answer|effect|effects|comments?|remarks?|what (?:it|they|this) \w+"
    r"|how (?:it|they) works?|why(?: it matters)?)$", re.I)
EMPTY_CELL = re.compile(r"^[-\u2013\u2014]*$")
PROSE_WORDS = 5  # a second column averaging this many words is prose: the table defines its first column


def term_meaning(header: list[str], rows: list[list[str]]) -> bool:
    """Whether a two-column table pairs terms with what they mean (then its rows read 'term: meaning')."""
    if len(header) != 2 or not any(header):
        return True
    if MEANING_HEADER.match(header[1].strip(" *_`")):
        return True
    second = [r[1] for r in rows if len(r) > 1 and r[1]]
    return bool(second) and sum(len(c.split()) for c in second) / len(second) >= PROSE_WORDS


def row_line(header: list[str], cells: list[str], pairs: bool) -> str:
    """One row as a line ('' for an empty row). `pairs`: the table reads 'term: meaning' (term_meaning)."""
    cells = [c.strip() for c in cells]
    if not any(cells):
        return ""
    if len(cells) == 2 and (pairs or not any(header)) and cells[0]:
        return f"{cells[0]}: {cells[1]}".rstrip(": ")
    header = [h.strip() for h in header]
    if not any(header):
        return "; ".join(c for c in cells if not EMPTY_CELL.match(c))
    if len(cells) > len(header):  # a stray pipe split a cell: the rest belongs to the last column
        cells = cells[:len(header) - 1] + [" / ".join(c for c in cells[len(header) - 1:] if c)]
    lead = ""
    if not header[0] and cells[0]:  # a row header: what this row is about
        lead, header, cells = cells[0], header[1:], cells[1:]
    labelled = [f"{h}: {c}" if h else c for h, c in zip(header, cells, strict=False) if not EMPTY_CELL.match(c)]
    row = "; ".join(labelled)
    return f"{lead} \u2014 {row}" if lead and row else lead or row
