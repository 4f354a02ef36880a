"""reStructuredText (and Sphinx) pages to kb's Markdown-ish page text, with docutils.

docutils parses the page into a document tree; this module walks that tree and
writes what a reader sees: titles and sections as '#' headings, paragraphs,
lists, code as fenced blocks, table rows by ingest/tables.py's rule ('Header: cell; ...'
or 'term: meaning'), definition lists as `term: definition` lines, math as plain text
where it is simple (ingest/latex.py). Markup never reaches the text. The rules for what
plain docutils does not know (Sphinx and its extensions):

- directives are looked up in four groups: *code* (`code-block`, `sourcecode`,
  `ipython`, ...: a fenced code block, options ignored), *labelled* (`seealso`,
  `versionadded`, ...: "See also: ..." and the content), *dropped* (`toctree`,
  `include`, `literalinclude`, `raw`, `auto*` API directives, `index`,
  `currentmodule`, ...: other files, navigation or code kb does not have), and
  every other directive a page uses is a *container*: its content is kept, its
  title argument (a card's or a tab's title) kept as a line, its options dropped;
- roles (`:ref:`, `:class:`, `:doc:`, `:term:`, ...) become their text: the
  explicit title when there is one, else the target (`~a.b.C` -> `C`, a `:doc:`
  path -> its last part, a `:ref:` label -> that section's title when it is on
  the same page); code-like roles (`:class:`, `:func:`, ...) become `code`;
  icon roles (`:octicon:`) are dropped;
- substitutions are replaced by docutils; an undefined one becomes its name;
- a block docutils rejects whole (a `list-table` row short of cells, a grid table whose
  right border is out of line, a built-in directive given an option it does not know)
  is replaced in its tree by an error report that carries the block's source lines: its
  words are read from those lines by the same rules (table rows, labelled admonitions,
  a figure's caption, other content re-parsed) instead of being lost with the block;
  the report's own message is never text.

A Sphinx `glossary::` directive, and definition lists, two-column tables and
line-block pairs (`| *Term*` / `|   definition`) on a page titled "Glossary",
are glossary entries: each definition-list or line-block entry becomes its own
heading, each table row a `term: definition` line, and every entry is returned
so chunking can tag its chunk with the term ("what is X" routes to it).
"""

from __future__ import annotations

import csv
import io
import re
import textwrap
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive, directives, roles
from docutils.parsers.rst.languages import en as rst_en
from docutils.statemachine import StringList
from docutils.utils import unescape

from ingest.latex import latex_to_text
from ingest.tables import row_line, term_meaning

DIRECTIVE_NAME = re.compile(r"^[ \t]*\.\.[ \t]+(?:\|[^|\n]+\|[ \t]+)?([A-Za-z0-9][\w:+.-]*)[ \t]*::", re.M)
ROLE_NAME = re.compile(r"(?<![\w`]):([A-Za-z0-9][\w:+.-]*):`")
EXPLICIT_TITLE = re.compile(r"^(.+?)\s*<([^<>]+)>$", re.S)
NAME_SPLIT = re.compile(r"\s+/\s+|,\s+|;\s+")

CODE_DIRECTIVES = {"code", "code-block", "sourcecode", "ipython", "doctest", "testcode", "testoutput",
                   "jupyter-execute", "code-cell", "prompt", "highlight-code", "literal-block"}
LABELLED = {"seealso": "See also", "versionadded": "New in version {}", "versionchanged": "Changed in version {}",
            "deprecated": "Deprecated since version {}", "versionremoved": "Removed in version {}",
            "todo": "To do", "admonition-todo": "To do"}
DROPPED_DIRECTIVES = {"toctree", "include", "literalinclude", "raw", "index", "currentmodule", "module", "highlight",
                      "tabularcolumns", "autosummary", "sectionauthor", "codeauthor", "moduleauthor", "testsetup",
                      "testcleanup", "mermaid", "graphviz", "digraph", "graph", "plot", "image-sg", "youtube",
                      "video", "iframe", "raw-html", "default-domain", "py:currentmodule", "py:module", "c:namespace",
                      "cpp:namespace", "program", "bibliography", "footbibliography", "only-html"}
CODE_ROLES = {"class", "func", "meth", "attr", "mod", "obj", "data", "exc", "const", "type", "var", "member",
              "macro", "struct", "enum", "file", "samp", "command", "program", "envvar", "option", "kbd",
              "makevar", "regexp", "mailheader", "mimetype", "newsgroup"}
DROPPED_ROLES = {"octicon", "fa", "fas", "far", "fab", "icon", "material-regular", "material-outlined",
                 "material-sharp", "iconify", "raw-html", "raw-latex"}
ADMONITIONS = {"note": "Note", "warning": "Warning", "tip": "Tip", "important": "Important", "caution": "Caution",
               "attention": "Attention", "danger": "Danger", "hint": "Hint", "error": "Error"}
GLOSSARY_TITLE = re.compile(r"\bglossary\b", re.I)
# A rejected block's source lines (see _Writer.rejected).
# ('replace::' alone: a substitution's directive, as docutils quotes it)
DIRECTIVE_HEAD = re.compile(r"^(?:\.\.[ \t]+)?([A-Za-z0-9][\w:+.-]*)[ \t]*::(?:[ \t]+(.*))?$")
OPTION_LINE = re.compile(r"^:([\w-]+):(?:[ \t]+(.*))?$")
GRID_BORDER = re.compile(r"^\s*\+[-=+]*\+?\s*$")
UNDERLINE = re.compile(r"^\s*([!-/:-@\[-`{-~])\1*(?:\s+\1+)*\s*$")  # a title's or a table's rule: ===, ---
WORDLESS_DIRECTIVES = {"image", "contents", "sectnum", "header", "footer", "meta", "class", "role", "default-role",
                       "title", "target-notes", "replace", "unicode", "date", "raw", "include"}


class AnyOptions(dict):
    """An option_spec that accepts every option (Sphinx directives have many docutils does not know)."""

    def __missing__(self, key: str) -> Any:
        return directives.unchanged

    def __bool__(self) -> bool:  # docutils reads options only when the spec is truthy
        return True


class _Base(Directive):
    optional_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = AnyOptions()


class Dropped(_Base):
    def run(self) -> list[nodes.Node]:
        return []


class Code(_Base):
    def run(self) -> list[nodes.Node]:
        language = (self.arguments[0].split()[0] if self.arguments else "") or ""
        text = "\n".join(self.content)
        if not text.strip():
            return []
        out: list[nodes.Node] = []
        caption = self.options.get("caption")
        if caption:
            out.append(nodes.paragraph(caption, "", *self.state.inline_text(caption, self.lineno)[0]))
        out.append(nodes.literal_block(text, text, language=language))
        return out


class Labelled(_Base):
    """seealso / versionadded / ...: a label, then the text (in the argument, the content, or both)."""

    def run(self) -> list[nodes.Node]:
        template = LABELLED.get(self.name.rsplit(":", 1)[-1], "{}")
        arg = self.arguments[0].strip() if self.arguments else ""
        version, text = (arg.split(None, 1) + [""])[:2] if "{}" in template and arg else ("", arg)
        box = nodes.container(classes=["kb-labelled"], label=template.format(version).strip())
        if text.strip():
            box += nodes.paragraph(text, "", *self.state.inline_text(" ".join(text.split()), self.lineno)[0])
        if self.content:
            self.state.nested_parse(self.content, self.content_offset, box)
        return [box]


class Container(_Base):
    """Any other directive: its content stays, a title-like argument becomes a line."""

    def run(self) -> list[nodes.Node]:
        box = nodes.container(classes=["kb-container"])
        title = self.arguments[0].strip() if self.arguments else ""
        if title and re.search(r"[A-Za-z]{2}", title) and not re.search(r"[/\\]|\.\w{2,4}$", title):
            box += nodes.paragraph(title, "", *self.state.inline_text(title, self.lineno)[0])
        if self.content:
            self.state.nested_parse(self.content, self.content_offset, box)
        return [box]


class Glossary(_Base):
    """Sphinx's glossary: term lines (several for one entry) above an indented definition."""

    def run(self) -> list[nodes.Node]:
        dl = nodes.definition_list(classes=["kb-glossary"])
        lines = list(self.content)
        offsets = [self.content.offset(i) for i in range(len(lines))]
        i = 0
        while i < len(lines):
            if not lines[i].strip() or lines[i][:1].isspace():
                i += 1
                continue
            item = nodes.definition_list_item()
            while i < len(lines) and lines[i].strip() and not lines[i][:1].isspace():
                term_text = lines[i].split(" : ", 1)[0].strip()  # "term : index-key" (Sphinx)
                item += nodes.term(term_text, "", *self.state.inline_text(term_text, self.lineno)[0])
                i += 1
            start = i
            while i < len(lines) and (not lines[i].strip() or lines[i][:1].isspace()):
                i += 1
            block = lines[start:i]
            indent = min((len(x) - len(x.lstrip()) for x in block if x.strip()), default=0)
            definition = nodes.definition()
            if block:
                where = [(self.content.source(start), offsets[start] + k) for k in range(len(block))]
                dedented = StringList([x[indent:] for x in block], items=where)
                self.state.nested_parse(dedented, offsets[start], definition)
            item += definition
            dl += item
        return [dl]


def _role(name: str, rawtext: str, text: str, lineno: int, inliner: Any, options: Any = None,
          content: Any = None) -> tuple[list[nodes.Node], list[nodes.Node]]:
    base = name.lower().rsplit(":", 1)[-1]
    if base in DROPPED_ROLES or name.lower() in DROPPED_ROLES:
        return [], []
    text = unescape(text)
    m = EXPLICIT_TITLE.match(text)
    if m:
        label = m.group(1).strip()
    else:
        target = text.strip().lstrip("!")
        if base == "ref":
            node = nodes.inline(rawtext, target.replace("-", " ").replace("_", " "), kb_ref=target)
            return [node], []
        if base == "doc":
            label = target.rstrip("/").rsplit("/", 1)[-1].replace("-", " ").replace("_", " ")
        elif target.startswith("~"):
            label = target[1:].rsplit(".", 1)[-1]
        else:
            label = target
    if base in CODE_ROLES:
        return [nodes.literal(rawtext, label)], []
    return [nodes.inline(rawtext, label)], []


# docutils' own names (its registries are private: read defensively, the English names are public)
_BUILTIN_ROLES = set(getattr(roles, "_role_registry", {})) | set(rst_en.roles)
_BUILTIN_DIRECTIVES = set(getattr(directives, "_directive_registry", {})) | set(rst_en.directives)
_registered: set[str] = set()


def _register(text: str) -> None:
    """Handlers for the Sphinx directives and roles this page uses (docutils' registry is global)."""
    for name in {"code", "code-block", "sourcecode", "include", "raw", "glossary"} | set(
            DIRECTIVE_NAME.findall(text)):
        key = name.lower()
        if key in _registered:
            continue
        _registered.add(key)
        base = key.rsplit(":", 1)[-1]
        if base in CODE_DIRECTIVES:
            directives.register_directive(key, Code)
        elif key == "glossary":
            directives.register_directive(key, Glossary)
        elif base in LABELLED:
            directives.register_directive(key, Labelled)
        elif key in DROPPED_DIRECTIVES or base in DROPPED_DIRECTIVES or base.startswith("auto"):
            directives.register_directive(key, Dropped)
        elif key not in _BUILTIN_DIRECTIVES:
            directives.register_directive(key, Container)
    for name in set(ROLE_NAME.findall(text)):
        key = name.lower()
        if key not in _BUILTIN_ROLES and key not in _registered:
            _registered.add(key)
            roles.register_local_role(key, _role)


def parse(text: str, source: str = "<page>", part: bool = False) -> nodes.document:
    """The page's docutils tree; `part`: a piece of a page (no document title or docinfo taken from it)."""
    from docutils.core import publish_doctree

    _register(text)
    overrides = {
        "report_level": 5, "halt_level": 5, "warning_stream": io.StringIO(), "file_insertion_enabled": False,
        "raw_enabled": False, "syntax_highlight": "none", "input_encoding": "unicode", "_disable_config": True,
        "doctitle_xform": not part, "sectsubtitle_xform": False, "docinfo_xform": not part,
        "character_level_inline_markup": False, "math_output": "latex", "env": None, "tab_width": 4,
    }
    return publish_doctree(text, source_path=source, settings_overrides=overrides)


def rst_to_markdown(text: str, source: str = "<page>") -> tuple[str, str, dict[str, Any], list[list[str]]]:
    """(title, Markdown-ish body, metadata, glossary entries) of one reStructuredText page."""
    doc = parse(text, source)
    writer = _Writer(doc)
    body = writer.render()
    return writer.title, body, writer.meta, writer.entries


class _Writer:
    def __init__(self, doc: nodes.document) -> None:
        self.doc = doc
        self.source = str(doc.get("source") or "<page>")
        self.rejections = 0  # blocks read again from their source lines (bounded: a piece can be rejected again)
        self.title = ""
        self.meta: dict[str, Any] = {}
        self.entries: list[list[str]] = []
        titles = [c for c in doc.children if isinstance(c, nodes.title)]
        if titles:
            self.title = self.inline(titles[0])
        self.glossary_page = bool(GLOSSARY_TITLE.search(self.title))
        self.offset = 1 if self.title else 0

    def render(self) -> str:
        out: list[str] = []
        if self.title:
            out += [f"# {self.title}", ""]
        out += self.blocks(self.doc.children, depth=self.offset, glossary=self.glossary_page)
        text = "\n".join(out)
        return re.sub(r"\n{3,}", "\n\n", text).strip()

    # -- blocks -----------------------------------------------------------------------------------

    def blocks(self, children: Any, depth: int, glossary: bool = False) -> list[str]:
        out: list[str] = []
        for child in children:
            out += self.block(child, depth, glossary)
        return out

    def block(self, node: nodes.Node, depth: int, glossary: bool) -> list[str]:
        if isinstance(node, nodes.system_message):
            return self.rejected(node, depth, glossary)
        if isinstance(node, (nodes.comment, nodes.target, nodes.substitution_definition,
                             nodes.raw, nodes.pending, nodes.image, nodes.transition, nodes.title,
                             nodes.subtitle, nodes.footnote_reference, nodes.citation_reference)):
            return []
        if isinstance(node, nodes.Text):  # astext: docutils keeps a backslash escape ('\\-') as a NUL byte in str()
            text = " ".join(node.astext().split())
            return [text, ""] if text else []
        if node.tagname == "meta":
            if node.get("name") == "description" and node.get("content"):
                self.meta["description"] = " ".join(str(node["content"]).split())
            return []
        if isinstance(node, nodes.section):
            title = next((c for c in node.children if isinstance(c, nodes.title)), None)
            heading = self.inline(title) if title is not None else ""
            level = min(depth + 1, 6)
            out = [f"{'#' * level} {heading}", ""] if heading else []
            inner = glossary or bool(GLOSSARY_TITLE.search(heading))
            return out + self.blocks(node.children, depth + 1, inner)
        if isinstance(node, nodes.topic) and "contents" in node.get("classes", []):
            return []
        if isinstance(node, (nodes.paragraph, nodes.rubric)):
            text = self.inline(node)
            return [text, ""] if text else []
        if isinstance(node, (nodes.literal_block, nodes.doctest_block, nodes.math_block)):
            lang = node.get("language") or ("math" if isinstance(node, nodes.math_block) else "")
            if not lang:
                lang = next((c for c in node.get("classes", []) if c not in ("code", "literal-block")), "")
            text = node.astext().rstrip()
            return [f"```{lang}", text, "```", ""] if text.strip() else []
        if isinstance(node, nodes.bullet_list):
            return self.list_items(node, depth, glossary, lambda i: "- ")
        if isinstance(node, nodes.enumerated_list):
            start = int(node.get("start", 1))
            return self.list_items(node, depth, glossary, lambda i: f"{start + i}. ")
        if isinstance(node, nodes.definition_list):
            return self.definition_list(node, depth, glossary or "kb-glossary" in node.get("classes", []))
        if isinstance(node, (nodes.field_list, nodes.docinfo)):
            return self.fields(node, depth)
        if isinstance(node, nodes.option_list):
            out = []
            for item in node.children:
                opts = ", ".join(self.inline(o) for o in item.findall(nodes.option_string))
                desc = " ".join(self.flat(c, depth) for c in item.children if isinstance(c, nodes.description))
                out.append(f"- {opts}: {desc}".rstrip(": "))
            return out + [""]
        if isinstance(node, nodes.line_block):
            return self.line_block(node, depth, glossary)
        if isinstance(node, nodes.table):
            return self.table(node, glossary)
        if isinstance(node, nodes.Admonition):
            return self.admonition(node, depth, glossary)
        if isinstance(node, nodes.container) and "kb-labelled" in node.get("classes", []):
            return self.labelled(node["label"], node.children, depth, glossary)
        if isinstance(node, nodes.figure):
            return self.blocks([c for c in node.children if isinstance(c, (nodes.caption, nodes.legend))], depth)
        if isinstance(node, nodes.caption):
            text = self.inline(node)
            return [text, ""] if text else []
        if isinstance(node, (nodes.topic, nodes.sidebar)):
            title = next((c for c in node.children if isinstance(c, nodes.title)), None)
            head = [self.inline(title), ""] if title is not None else []
            return head + self.blocks(node.children, depth, glossary)
        if isinstance(node, nodes.attribution):
            return [f"— {self.inline(node)}", ""]
        if isinstance(node, (nodes.footnote, nodes.citation)):
            return self.blocks([c for c in node.children if not isinstance(c, nodes.label)], depth)
        if isinstance(node, nodes.problematic):
            text = self.inline(node)
            return [text, ""] if text else []
        if isinstance(node, nodes.Element):  # block_quote, container, compound, line, ... : their content
            if node.children and all(isinstance(c, (nodes.Text, nodes.Inline)) for c in node.children):
                text = self.inline(node)
                return [text, ""] if text else []
            return self.blocks(node.children, depth, glossary)
        return []

    def list_items(self, node: nodes.Element, depth: int, glossary: bool, marker: Any) -> list[str]:
        out: list[str] = []
        for i, item in enumerate(node.children):
            lines = [line for line in self.blocks(item.children, depth, glossary)]
            first = True
            for line in lines:
                if not line:
                    continue
                if first:
                    out.append(marker(i) + line)
                    first = False
                else:
                    out.append("  " + line if not line.startswith("```") else line)
        return out + [""]

    def definition_list(self, node: nodes.Element, depth: int, glossary: bool) -> list[str]:
        out: list[str] = []
        for item in node.children:
            terms = [self.inline(t) for t in item.children if isinstance(t, nodes.term)]
            classifiers = [self.inline(t) for t in item.children if isinstance(t, nodes.classifier)]
            definition = next((c for c in item.children if isinstance(c, nodes.definition)), None)
            body = self.blocks(definition.children, depth + 1) if definition is not None else []
            terms = [t for t in terms if t]
            if not terms:
                continue
            if glossary:
                head = terms[0] if len(terms) == 1 else " / ".join(terms)
                self.entries.append(self.names([head, *terms]))
                out += [f"{'#' * min(depth + 1, 6)} {head}", ""] + body
            else:
                label = terms[0] + (f" ({', '.join(classifiers)})" if classifiers else "")
                text = " ".join(line for line in body if line and not line.startswith("```"))
                out += [f"{label}: {text}".rstrip(": "), ""]
        return out

    def line_block(self, node: nodes.Element, depth: int, glossary: bool) -> list[str]:
        """Lines; a line followed by an indented line block is a term and its definition."""
        out: list[str] = []
        children = list(node.children)
        i = 0
        while i < len(children):
            child = children[i]
            nxt = children[i + 1] if i + 1 < len(children) else None
            if isinstance(child, nodes.line) and isinstance(nxt, nodes.line_block):
                term = self.inline(child)
                definition = " ".join(self.inline(x) for x in nxt.findall(nodes.line) if self.inline(x))
                if glossary and term:
                    self.entries.append(self.names([term, term]))
                    out += [f"{'#' * min(depth + 1, 6)} {term}", "", definition, ""]
                else:
                    out += [f"{term}: {definition}", ""]
                i += 2
                continue
            if isinstance(child, nodes.line):
                text = self.inline(child)
                if text:
                    out.append(text)
            elif isinstance(child, nodes.line_block):
                out += self.line_block(child, depth, glossary)
            i += 1
        return out + [""]

    def fields(self, node: nodes.Element, depth: int) -> list[str]:
        out: list[str] = []
        for field in node.children:
            if isinstance(field, nodes.field):
                name = self.inline(field.children[0])
                value = " ".join(self.flat(c, depth) for c in field.children[1:])
            else:  # docinfo's author, version, ...
                name, value = field.tagname.capitalize(), self.inline(field)
            if value.strip():
                out.append(f"{name}: {value.strip()}")
        return out + [""] if out else []

    def table(self, node: nodes.Element, glossary: bool) -> list[str]:
        out: list[str] = []
        title = next((c for c in node.children if isinstance(c, nodes.title)), None)
        if title is not None and self.inline(title):
            out += [self.inline(title), ""]
        for group in node.findall(nodes.tgroup):
            head = [self.cells(r) for r in group.findall(nodes.row) if isinstance(r.parent, nodes.thead)]
            header = head[-1] if head else []
            rows = [self.cells(r) for r in group.findall(nodes.row) if isinstance(r.parent, nodes.tbody)]
            out += self.rows(header, rows, glossary)
        return out + [""]

    def rows(self, header: list[str], rows: list[list[str]], glossary: bool) -> list[str]:
        out: list[str] = []
        pairs = glossary or term_meaning(header, rows)  # ingest/tables.py: the rule of every format
        for cells in rows:  # one paragraph a row: a long table is split between rows, never inside one
            cells = cells + [""] * (len(header) - len(cells))  # a row short of cells (a rejected table's)
            row = row_line(header, cells, pairs)
            if not row:
                continue
            out += [row, ""]
            if glossary and len(cells) == 2 and cells[0]:
                self.entries.append(self.names([cells[0], cells[0]]))
        return out

    # -- blocks docutils rejected -----------------------------------------------------------------

    def rejected(self, msg: nodes.Element, depth: int, glossary: bool) -> list[str]:
        """The words of a block docutils rejected whole (its ERROR report holds the block's source lines)."""
        block = next((c for c in msg.children if isinstance(c, nodes.literal_block)), None)
        if msg.get("level", 0) < 3 or block is None or self.rejections >= 50:
            return []
        self.rejections += 1
        lines = block.astext().splitlines()
        while lines and not lines[0].strip():
            lines.pop(0)
        if not lines:
            return []
        head = DIRECTIVE_HEAD.match(lines[0].strip())
        if head:
            name, arg = head.group(1).lower(), (head.group(2) or "").strip()
            return self.rejected_directive(name, arg, lines[1:], depth, glossary)
        if lines[0].lstrip().startswith(".."):  # a target, substitution or comment: nothing to read
            return []
        if GRID_BORDER.match(lines[0]):
            return self.grid_rows(lines, glossary)
        return self.piece([x for x in lines if not UNDERLINE.match(x)], depth, glossary)

    def piece(self, lines: list[str], depth: int, glossary: bool) -> list[str]:
        """Some reST lines of the page, parsed on their own (a piece rejected again is read at most 50 times)."""
        text = textwrap.dedent("\n".join(lines)).strip("\n")
        if not text.strip():
            return []
        return self.blocks(parse(text, self.source, part=True).children, depth, glossary)

    def rejected_directive(self, name: str, arg: str, lines: list[str], depth: int, glossary: bool) -> list[str]:
        base = name.rsplit(":", 1)[-1]
        lines = textwrap.dedent("\n".join(lines)).splitlines()
        options: dict[str, str] = {}
        last = ""
        while lines and lines[0].strip():  # the argument's other lines, then options, up to a blank line
            line = lines.pop(0)
            opt = OPTION_LINE.match(line)
            if opt:
                last = opt.group(1).lower()
                options[last] = (opt.group(2) or "").strip()
            elif last:
                options[last] += " " + line.strip()
            else:
                arg = f"{arg} {line.strip()}".strip()
        body = lines
        if base in WORDLESS_DIRECTIVES or name in DROPPED_DIRECTIVES or base in DROPPED_DIRECTIVES \
                or base.startswith("auto"):
            return []
        if base in CODE_DIRECTIVES or base == "math":
            text = textwrap.dedent("\n".join(body)).strip("\n")
            lang = "math" if base == "math" else (arg.split() or [""])[0]
            return [f"```{lang}", text, "```", ""] if text.strip() else []
        title = [self.inline(parse(arg, self.source, part=True)), ""] if arg and base not in ADMONITIONS else []
        if base == "list-table":
            return title + self.list_table_rows(body, options, glossary)
        if base == "csv-table":
            return title + self.csv_rows(body, options, glossary)
        if base == "figure":  # the argument is the image's file
            return self.piece(body, depth, glossary)
        content = self.piece(([arg, ""] if arg and base in ADMONITIONS else []) + body, depth, glossary)
        if not content:
            return []
        if base in ADMONITIONS:
            return self._label(ADMONITIONS[base], content)
        if base == "admonition":
            return self._label(title[0] if title else "", content)
        if title and (not re.search(r"[A-Za-z]{2}", arg) or re.search(r"[/\\]|\.\w{2,4}$", arg)):
            title = []  # a path or a number, not a title (as Container)
        return title + content

    @staticmethod
    def _label(label: str, lines: list[str]) -> list[str]:
        if label and lines and lines[0] and not lines[0].startswith(("```", "- ", "#")):
            lines = [f"{label}: {lines[0]}"] + lines[1:]
        elif label:
            lines = [f"{label}:", ""] + lines
        return lines + [""]

    def header_rows(self, rows: list[list[str]], options: dict[str, str]) -> tuple[list[str], list[list[str]]]:
        n = int(options["header-rows"]) if options.get("header-rows", "").strip().isdigit() else 0
        return (rows[n - 1] if 0 < n <= len(rows) else []), rows[n:]

    def list_table_rows(self, body: list[str], options: dict[str, str], glossary: bool) -> list[str]:
        text = textwrap.dedent("\n".join(body)).strip("\n")
        doc = parse(text, self.source, part=True) if text.strip() else None
        outer = next((c for c in doc.children if isinstance(c, nodes.bullet_list)), None) if doc else None
        if outer is None:
            return self.piece(body, 0, glossary)
        rows = []
        for item in outer.children:
            inner = next((c for c in item.children if isinstance(c, nodes.bullet_list)), None)
            cells = [self.flat(li, 0) for li in inner.children] if inner is not None else [self.flat(item, 0)]
            rows.append([" ".join(c.split()) for c in cells])
        header, rows = self.header_rows(rows, options)
        return self.rows(header, rows, glossary) + [""]

    def csv_rows(self, body: list[str], options: dict[str, str], glossary: bool) -> list[str]:
        delim = options.get("delim", ",").strip() or ","
        delim = {"tab": "\t", "space": " ", "comma": ","}.get(delim, delim[:1])

        def read(text: str) -> list[list[str]]:
            reader = csv.reader(io.StringIO(text), delimiter=delim, skipinitialspace=True)
            return [[self.inline(parse(c, self.source, part=True)) if c.strip() else "" for c in row]
                    for row in reader if any(c.strip() for c in row)]

        rows = read(textwrap.dedent("\n".join(body)))
        given = read(options["header"]) if options.get("header") else []
        header, rows = (given[0], rows) if given else self.header_rows(rows, options)
        return self.rows(header, rows, glossary) + [""]

    def grid_rows(self, lines: list[str], glossary: bool) -> list[str]:
        """A grid table docutils found malformed (a border out of line): rows between '+---+' lines, cells by '|'."""
        rows: list[list[str]] = []
        current: list[str] | None = None
        heads = 0
        for line in lines:
            if GRID_BORDER.match(line):
                if current is not None:
                    rows.append(current)
                current = None
                if "=" in line:
                    heads = len(rows)
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if current is None:
                current = cells
            else:
                current += [""] * (len(cells) - len(current))
                current = [f"{a} {b}".strip() for a, b in zip(current, cells + [""] * (len(current) - len(cells)),
                                                             strict=True)]
        if current is not None:
            rows.append(current)
        rows = [[self.inline(parse(c, self.source, part=True)) if c else "" for c in row] for row in rows]
        header, rows = (rows[heads - 1] if heads else []), rows[heads:]
        return self.rows(header, rows, glossary) + [""]

    def cells(self, row: nodes.Element) -> list[str]:
        return [" ".join(self.flat(c, 0) for c in entry.children).strip() for entry in row.children]

    def admonition(self, node: nodes.Element, depth: int, glossary: bool) -> list[str]:
        title = next((c for c in node.children if isinstance(c, nodes.title)), None)
        label = self.inline(title) if title is not None else ADMONITIONS.get(node.tagname, "")
        return self.labelled(label, [c for c in node.children if not isinstance(c, nodes.title)], depth, glossary)

    def labelled(self, label: str, children: Any, depth: int, glossary: bool) -> list[str]:
        return self._label(label, self.blocks(children, depth, glossary))

    def flat(self, node: nodes.Node, depth: int) -> str:
        return " ".join(line for line in self.block(node, depth, False) if line and not line.startswith("```"))

    # -- inline -----------------------------------------------------------------------------------

    def inline(self, node: nodes.Node) -> str:
        return " ".join(self._inline(node).split())

    def _inline(self, node: nodes.Node) -> str:
        if isinstance(node, nodes.Text):
            return node.astext()
        if isinstance(node, (nodes.system_message, nodes.footnote_reference, nodes.citation_reference,
                             nodes.target, nodes.image, nodes.raw, nodes.comment)):
            return ""
        if isinstance(node, nodes.literal):
            text = node.astext()
            return f"`{text}`" if text.strip() else ""
        if isinstance(node, nodes.math):  # :math:`4096 \approx 15M` -> '4096 ≈ 15M' where it is simple
            text = node.astext()
            return latex_to_text(text) or f"${text}$"
        if isinstance(node, nodes.problematic):  # an undefined |substitution| or a broken reference
            return node.astext().strip("|_`")
        if isinstance(node, nodes.inline) and node.get("kb_ref"):
            return self.ref_title(node["kb_ref"]) or node.astext()
        if isinstance(node, nodes.Element):
            return "".join(self._inline(c) for c in node.children)
        return ""

    def ref_title(self, label: str) -> str:
        """A :ref: to a section of the same page reads as that section's title."""
        ref_id = self.doc.nameids.get(label.lower())
        target = self.doc.ids.get(ref_id) if ref_id else None
        if isinstance(target, nodes.section):
            title = next((c for c in target.children if isinstance(c, nodes.title)), None)
            return self.inline(title) if title is not None else ""
        return ""

    @staticmethod
    def names(terms: list[str]) -> list[str]:
        """[shown term (as written in the heading or line), name, other names...] of one entry."""
        out: list[str] = [terms[0]]
        for term in terms[1:]:
            for part in NAME_SPLIT.split(term):
                part = part.strip(" `*_\"'")
                m = re.match(r"^(.+?)\s*\(([^()]+)\)$", part)
                out += [m.group(1), m.group(2)] if m else [part]
        return [out[0]] + [n for n in dict.fromkeys(out[1:]) if n]
