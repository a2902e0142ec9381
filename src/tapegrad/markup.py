"""How text a user chose (labels, op names, node, module, class and column names) is written
into what tapegrad draws: one function per kind of output, so that no such text can become
markup, a link or a script, and each is shown literally.

    dot_text         a quoted DOT string: a node's or edge's label, a tooltip, a graph label
    dot_field        one cell of a Graphviz record label ("{ a | data 1.0 | grad 0.0 }")
    xml_text         SVG: text content and attribute values
    html_text        HTML: text content and quoted attribute values
    json_for_script  data as JSON inside a <script> element
    terminal_text    a line printed to a terminal

Every place that writes user text into DOT, SVG, HTML or a terminal calls one of these (a test
greps the presentation modules for other escaping)."""

from __future__ import annotations

import json
import re
from html import escape

_SURROGATE = re.compile("[\ud800-\udfff]")
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_DOT = str.maketrans(
    {
        "\\": "\\\\",  # escString: \N, \G, \l, ... would be expanded by Graphviz
        "&": "&amp;",  # Graphviz reads entities in every label: "&lt;" must stay "&lt;"
        "<": "&lt;",  # with no < or > the text can never be an HTML-like label <...>
        ">": "&gt;",
        '"': "&quot;",  # nothing left for the quoting of graphviz (or of DOT) to get wrong
        "\n": " ",
        "\r": " ",
    }
)
_DOT_FIELD = str.maketrans({c: "\\" + c for c in "{}|"} | {"\t": " "})


def dot_text(text: str) -> str:
    """`text` for a DOT string attribute (a label, a tooltip): no HTML-like label, no escape
    sequence, no entity; Graphviz shows it as written (newlines as spaces)."""
    return text.translate(_DOT)


def dot_field(text: str) -> str:
    """`text` as one cell of a Graphviz record label: dot_text, with the record's structure
    characters `{ } |` escaped too (`<` and `>`, which name ports, never remain)."""
    return dot_text(text).translate(_DOT_FIELD)


def xml_text(text: str) -> str:
    """`text` for SVG (text content or a quoted attribute value), with the characters XML
    cannot hold (controls, lone surrogates) as U+FFFD."""
    return escape(_XML_BAD.sub("\ufffd", text), quote=True)


def html_text(text: str) -> str:
    """`text` for HTML (text content or a quoted attribute value), lone surrogates (which no
    UTF-8 file can hold) as U+FFFD."""
    return escape(_SURROGATE.sub("\ufffd", text), quote=True)


def json_for_script(data: object) -> str:
    """`data` as JSON that can sit inside a <script> element: `<`, `>` and `&` are escaped so
    no text (a label such as "</script>") can end the element or open a comment, and lone
    surrogates become U+FFFD so the page can be saved as UTF-8."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _SURROGATE.sub("\ufffd", text)


def terminal_text(text: str, keep: str = "") -> str:
    """`text` for a terminal: every character Python does not call printable (C0 and C1
    controls, newlines, bidirectional overrides and isolates, which reorder what follows them,
    lone surrogates) shown as a Python escape (`\\x1b`, `\\n`, `\\u202e`), so none can move
    the cursor, change colours or reorder the line; those in `keep` are left alone."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else ascii(ch)[1:-1] for ch in text)
