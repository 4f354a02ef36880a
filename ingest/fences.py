"""Which lines of a Markdown page are fenced code.

Every rule that rewrites prose (tables, display math, tags wrapped over lines) must leave code alone, and
those rules jump over the lines they consume; one pass that marks the code lines first keeps them from
each tracking an open fence of their own.
"""

from __future__ import annotations

import re

FENCE = re.compile(r"^\s*(```|~~~)")


def code_lines(lines: list[str]) -> list[bool]:
    """For each line: a fence line or inside a fenced block (a fence left open runs to the page's end)."""
    flags: list[bool] = []
    inside = False
    for line in lines:
        fence = bool(FENCE.match(line))
        flags.append(inside or fence)
        inside ^= fence
    return flags
