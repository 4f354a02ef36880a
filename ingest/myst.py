"""MyST (Sphinx's Markdown) constructs in a Markdown page, as the text a reader of the built page sees.

Sphinx projects write Markdown pages with MyST: directives as fenced blocks (```` ```{note} ````),
roles as `` {class}`torchao.core.Config` ``, targets as `(label)=` lines. Read as plain Markdown,
a ```` ```{note} ```` block is a code block, so the note's prose was never quotable, and a
`(label)=` line was a stray short line. Here, by the rules ingest/rst.py applies to reST:

- an admonition directive (`note`, `warning`, `tip`, `seealso`, ...) keeps its content as prose,
  labelled ('Note: ...', 'See also: ...'), its option lines (`:class: x`) dropped;
- `code-block` / `code` / `sourcecode` are code blocks of their language;
- `literalinclude`, `include`, `toctree`, `image`, `raw`, `contents` and `auto*` pull in other files
  or navigation: dropped;
- any other directive (`mermaid`, `math`, `eval-rst`, ...) stays a fenced block of its name;
- a role reads as its text: the explicit title of `` {ref}`the API <api-x>` ``, else its target
  (`~a.b.C` -> `C`), as `code` for code roles (`class`, `func`, ...);
- `(label)=` target lines go.
"""

from __future__ import annotations

import re

DIRECTIVE = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})\{([\w:.-]+)\}\s*(.*?)\s*$")
OPTION = re.compile(r"^\s*:[\w-]+:(?:\s.*)?$")
INLINE_CODE = re.compile(r"(`[^`\n]+`)")
ROLE_NAME = re.compile(r"\{([\w:.-]+)\}$")
TARGET = re.compile(r"^\s*\([\w:.-]+\)=\s*$")
EXPLICIT = re.compile(r"^(.+?)\s*<([^<>]+)>$", re.S)


def myst_to_markdown(lines: list[str]) -> list[str]:
    """The page's lines with MyST directives, roles and targets rewritten (code blocks untouched)."""
    out: list[str] = []
    code_fence = ""  # an ordinary code block: left alone
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if code_fence:
            if stripped.startswith(code_fence) and not stripped.strip(code_fence[0]):
                code_fence = ""
            out.append(line)
            i += 1
            continue
        m = DIRECTIVE.match(line)
        if not m:
            if stripped[:3] in ("```", "~~~"):
                code_fence = re.match(r"[`~]+", stripped).group()  # type: ignore[union-attr]
                out.append(line)
            elif not TARGET.match(line):
                out.append(_roles(line))
            i += 1
            continue
        indent, fence, name, arg = m.groups()
        end = _closing(lines, i + 1, fence)
        body = lines[i + 1:end]
        while body and OPTION.match(body[0]):
            body = body[1:]
        out += _directive(indent, name.lower(), arg, body)
        i = end + 1
    return out


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line that closes a directive opened with `fence` (nested directives use longer fences)."""
    for j in range(start, len(lines)):
        s = lines[j].strip()
        if s.startswith(fence) and not s.strip(fence[0]):
            return j
    return len(lines)


def _directive(indent: str, name: str, arg: str, body: list[str]) -> list[str]:
    from ingest.rst import ADMONITIONS, CODE_DIRECTIVES, DROPPED_DIRECTIVES, LABELLED  # the reST reader's rules

    base = name.rsplit(":", 1)[-1]
    if base in DROPPED_DIRECTIVES or base in ("image", "figure-md", "contents") or base.startswith("auto"):
        return []
    if base in CODE_DIRECTIVES:
        return [f"{indent}```{arg.split()[0] if arg else ''}", *body, f"{indent}```"]
    label = ADMONITIONS.get(base) or LABELLED.get(base, "").format(arg).strip()
    if base == "admonition":
        label = arg
    if not label:  # not prose: a diagram, math, an embedded reST block
        return [f"{indent}```{base}", *body, f"{indent}```"]
    text = myst_to_markdown(body)
    first = next((k for k, t in enumerate(text) if t.strip()), None)
    if first is None:
        return [f"{indent}{label}", ""]
    if text[first].lstrip().startswith(("```", "- ", "* ", "#", "|")) or re.match(r"\s*\d+[.)]\s", text[first]):
        return ["", f"{indent}{label}:", *text, ""]
    text[first] = f"{indent}{label}: {text[first].strip()}"
    return ["", *text, ""]


def _roles(line: str) -> str:
    """Each `{name}` right before an inline code span is a role: the two read as the role's text. A brace
    inside a code span (`a.{method}`) is the code's, never a role's name."""
    parts = INLINE_CODE.split(line)
    for k in range(0, len(parts) - 1, 2):  # even parts are text, odd parts code spans
        m = ROLE_NAME.search(parts[k])
        if m:
            parts[k] = parts[k][:m.start()] + _role(m.group(1), parts[k + 1][1:-1])
            parts[k + 1] = ""
    return "".join(parts)


def _role(name: str, text: str) -> str:
    from ingest.rst import CODE_ROLES, DROPPED_ROLES

    base = name.lower().rsplit(":", 1)[-1]
    if base in DROPPED_ROLES:
        return ""
    explicit = EXPLICIT.match(text)
    if explicit:
        label = explicit.group(1).strip()
    else:
        target = text.strip().lstrip("!")
        label = target[1:].rsplit(".", 1)[-1] if target.startswith("~") else target
        if base in ("ref", "doc"):
            label = label.rstrip("/").rsplit("/", 1)[-1].replace("-", " ").replace("_", " ")
    return f"`{label}`" if base in CODE_ROLES else label
