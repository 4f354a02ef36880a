"""Jupyter notebooks (.ipynb) to a Markdown page: the markdown cells are the page.

Code cells and their outputs are dropped: kb answers with quoted sentences, and
code (or a stack trace, a dataframe print-out) in a passage blurs its embedding
and is never quoted. A notebook's prose is in its markdown cells. A first raw
cell holding YAML front matter (Quarto notebooks) is kept as front matter, so
its title and description become page metadata. The file is JSON (nbformat 4,
and the older 3 with worksheets); the standard library reads it.
"""

from __future__ import annotations

import json
from typing import Any


def notebook_to_markdown(text: str) -> str:
    try:
        nb = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not a valid notebook (JSON error: {exc})") from None
    if not isinstance(nb, dict):
        raise ValueError("not a valid notebook (no cells)")
    cells: Any = nb.get("cells")
    if cells is None:  # nbformat 3
        cells = [c for ws in nb.get("worksheets") or [] for c in ws.get("cells") or []]
    if not isinstance(cells, list):
        raise ValueError("not a valid notebook (no cells)")
    parts: list[str] = []
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", cell.get("input", ""))
        source = "".join(source) if isinstance(source, list) else str(source or "")
        kind = cell.get("cell_type")
        if kind == "markdown" or kind == "heading":
            if kind == "heading":  # nbformat 3 heading cells
                source = "#" * int(cell.get("level", 1)) + " " + source
            parts.append(source.strip())
        elif kind == "raw" and i == 0 and source.lstrip().startswith("---"):
            parts.append(source.strip())
    return "\n\n".join(p for p in parts if p) + "\n"
