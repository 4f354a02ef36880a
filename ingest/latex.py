"""LaTeX in prose as the plain text a reader sees, where it is simple.

Real pages write small facts in inline math: 'cuts 64 x 64 $\\approx$ 4K weights to ...',
'$O(n^2)$', '$W_Q$ (the query weights)'. A sentence with LaTeX in it is junk
(kb/junk.py: markup in a quote), so the fact it holds was never quotable. Here:

- inline math (`$...$` by Pandoc's rule: no space inside the dollars, no digit after the
  closing one, so '$5 to $10' is money; rst's `:math:` role) becomes plain text when every
  command in it has a plain form: symbols to their characters (`\\approx` -> '≈', `\\times`
  -> '×', `\\leq` -> '≤', Greek letters), `\\text{...}`/`\\mathrm{...}`-style wrappers to their
  text, `\\frac{a}{b}` -> 'a/b', `\\sqrt{x}` -> '√x', sub- and superscripts kept as `_` and
  `^` with their braces gone ('W_Q', 'n^2', 'x_(i+1)'); math that keeps a command or a
  brace after that stays as it was, and stays junk;
- display math (`$$ ... $$`, `\\[ ... \\]` on lines of their own) becomes a fenced `math`
  block: a formula is retrieved with its passage, like code, and never quoted.
"""

from __future__ import annotations

import re

from ingest.fences import code_lines

SYMBOLS = {
    "approx": "≈", "times": "×", "cdot": "·", "cdots": "⋯", "ldots": "…", "dots": "…", "leq": "≤", "le": "≤",
    "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "pm": "±", "mp": "∓", "to": "→", "rightarrow": "→",
    "leftarrow": "←", "Rightarrow": "⇒", "infty": "∞", "sim": "~", "propto": "∝", "in": "∈", "notin": "∉",
    "sum": "Σ", "prod": "Π", "partial": "∂", "nabla": "∇", "top": "T", "prime": "′", "div": "÷", "ll": "≪",
    "gg": "≫", "equiv": "≡", "forall": "∀", "exists": "∃", "emptyset": "∅", "cup": "∪", "cap": "∩",
    "subset": "⊂", "subseteq": "⊆", "mid": "|", "lvert": "|", "rvert": "|", "lceil": "⌈", "rceil": "⌉",
    "lfloor": "⌊", "rfloor": "⌋", "log": "log", "ln": "ln", "exp": "exp", "max": "max", "min": "min",
    "arg": "arg", "argmax": "argmax", "argmin": "argmin", "sin": "sin", "cos": "cos", "tanh": "tanh",
    "softmax": "softmax", "percent": "%", "%": "%", "_": "_", "&": "&", "#": "#", "{": "(", "}": ")",
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ",
    "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ",
    "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Pi": "Π", "Sigma": "Σ",
    "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg|displaystyle|textstyle|limits|nolimits)\b")
SPACING = re.compile(r"\\[,;:! ]|\\quad\b|\\qquad\b|~")
WRAPPER = re.compile(r"\\(?:text|textrm|textit|textbf|texttt|mathrm|mathit|mathbf|mathsf|mathtt|mathcal|mathbb|"
                     r"operatorname|boldsymbol|bm|mbox|hat|bar|tilde|vec|overline)\s*\{([^{}]*)\}")
DOUBLE_STRUCK = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ"}
FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
SQRT = re.compile(r"\\sqrt\s*\{([^{}]*)\}")
SCRIPT = re.compile(r"([_^])\s*\{([^{}]*)\}")
COMMAND = re.compile(r"\\([A-Za-z]+|[%_&#{}])")
BARE_GROUP = re.compile(r"(?<![\w}])\{([^{}]*)\}")
SIMPLE = re.compile(r"^-?[\w.′√]+$")
# Pandoc's rule: '$' with no space after it, then no space before the closing '$', which no digit follows
INLINE = re.compile(r"(?<![\\$\w])\$(?=[^\s$])([^$\n]*?[^\s\\$])\$(?![\d$])|(?<![\\$\w])\$([^\s$\\])\$(?![\d$])")
MATHY = re.compile(r"[\\^_{}=]|^\S{1,3}$")
DISPLAY_OPEN = re.compile(r"^\s*(?:\$\$|\\\[)")
DISPLAY_CLOSE = re.compile(r"(?:\$\$|\\\])\s*$")


def _group(text: str) -> str:
    """A sub- or superscript, a fraction's part: bare when it is one token, else in parentheses."""
    text = text.strip()
    return text if SIMPLE.match(text) else f"({text})"


def latex_to_text(expr: str) -> str | None:
    """The plain text of a LaTeX expression, or None when some of it has no plain form."""
    text = SPACING.sub(" ", SIZING.sub("", expr))
    for _ in range(6):  # innermost braces first: \frac{\text{a}}{b}
        before = text
        text = WRAPPER.sub(lambda m: m.group(1) if "mathbb" not in m.group(0)
                           else DOUBLE_STRUCK.get(m.group(1).strip(), m.group(1)), text)
        text = FRAC.sub(lambda m: f"{_group(m.group(1))}/{_group(m.group(2))}", text)
        text = SQRT.sub(lambda m: f"√{_group(m.group(1))}", text)
        text = SCRIPT.sub(lambda m: f"{m.group(1)}{_group(m.group(2))}", text)
        text = BARE_GROUP.sub(r"\1", text)  # {x}, not a command's argument
        if text == before:
            break
    text = COMMAND.sub(lambda m: SYMBOLS.get(m.group(1), m.group(0)), text)
    if "\\" in text or "{" in text or "}" in text:
        return None
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s*([_^])\s*", r"\1", text)
    return text or None


def inline_math(line: str) -> str:
    """A line of prose with each simple `$...$` span as plain text (the rest left as it was)."""
    def plain(m: re.Match[str]) -> str:
        expr = m.group(1) if m.group(1) is not None else m.group(2)
        if not MATHY.search(expr):
            return m.group(0)  # '$HOME$'-like or prose between two prices: not math
        return latex_to_text(expr) or m.group(0)

    return INLINE.sub(plain, line)


def display_math(lines: list[str]) -> list[str]:
    """`$$ ... $$` and `\\[ ... \\]` blocks (outside code fences) as fenced `math` blocks, one or many lines."""
    out: list[str] = []
    code = code_lines(lines)
    i = 0
    while i < len(lines):
        line = lines[i]
        if code[i] or not DISPLAY_OPEN.match(line):
            out.append(line)
            i += 1
            continue
        body = [line]
        j = i
        closed = len(line.strip()) > 2 and DISPLAY_CLOSE.search(line.strip()[2:])
        while not closed and j + 1 < len(lines) and j - i < 40 and lines[j + 1].strip():
            j += 1
            body.append(lines[j])
            closed = bool(DISPLAY_CLOSE.search(lines[j]))
        if not closed:  # an opening mark with no end: not a display block
            out.append(line)
            i += 1
            continue
        expr = "\n".join(body).strip()
        expr = re.sub(r"^(?:\$\$|\\\[)|(?:\$\$|\\\])$", "", expr).strip()
        out += ["```math", expr, "```"]
        i = j + 1
    return out
