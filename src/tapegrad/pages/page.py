"""What every tapegrad page shares: a unique element id, JSON data embedded safely in HTML, a
standalone document or a notebook fragment from the same body, and an atomic save."""

from __future__ import annotations

import os
import uuid
from importlib import resources
from pathlib import Path

from .._files import write_text
from ..markup import html_text, json_for_script

__all__ = ["HtmlPage", "asset", "data_and_script", "json_for_script", "new_id"]


def new_id(prefix: str = "tg") -> str:
    """An id no other page in the same notebook or document will use."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def asset(name: str) -> str:
    """The text of a file shipped in tapegrad.pages (a script or a style sheet)."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def data_and_script(uid: str, data: object, script: str) -> str:
    """A page's data as JSON in a <script> element (`{uid}-data`) and its script, the shipped
    file `script` run as a function of the page's id (so every lookup is scoped to it)."""
    return (
        f'<script type="application/json" id="{uid}-data">{json_for_script(data)}</script>\n'
        f"<script>(function (uid) {{\n{asset(script)}\n}})({json_for_script(uid)});</script>"
    )


class HtmlPage:
    """A page that displays inline in Jupyter (`_repr_html_`) and saves as one HTML file.
    Subclasses give `title` and `fragment(standalone)`: the body, its style and script."""

    title: str

    def fragment(self, standalone: bool) -> str:
        raise NotImplementedError

    def html(self) -> str:
        """The whole page as one HTML document (what `save` writes)."""
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html_text(self.title)}</title>\n</head>\n<body>\n"
            f"{self.fragment(standalone=True)}\n</body>\n</html>\n"
        )

    def _repr_html_(self) -> str:
        return self.fragment(standalone=False)

    def save(self, path: str | os.PathLike) -> str:
        """Write the page to `path` atomically, creating missing folders; return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, self.html(), keep_suffix=False)
        return str(path)
