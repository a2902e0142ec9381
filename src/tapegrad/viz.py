"""`draw_dot`: the lecture's picture of a graph, as a graphviz.Digraph that renders anywhere:
every output runs Graphviz's `dot` under a time limit and, when `dot` is missing, fails or runs
out of time, falls back with one warning to tapegrad's own renderer (`svgrender`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import textwrap
import unicodedata
import warnings
from collections.abc import Container, Iterable
from dataclasses import replace
from typing import Any

import graphviz

from . import svgrender
from .collapse import Collapse, Group, group_nodes
from .engine import Constant, Value
from .graph import op_label, topological_order
from .markup import dot_field, dot_text
from .svgrender import Edge, Node, Scene
from .textgraph import number_format

RANKDIRS = ("LR", "TB", "RL", "BT")
PICTURE_SUFFIXES = (".svg", ".png", ".pdf")
SOURCE_SUFFIXES = (".gv", ".dot")
PNG_MAX_INCHES = 60  # Graphviz scales bigger pictures down: at most 5760 x 5760 pixels

HIGHLIGHT_FILL = "#ffe082"
GROUP_FILL = "#e3f2fd"
CONSTANT_COLOR = "#666666"

DOT_SECONDS = 5.0
"""Time limit of one `dot` run, plus DOT_SECONDS_PER_STATEMENT per node and edge."""
DOT_SECONDS_PER_STATEMENT = 0.005
SOURCE_FORMATS = ("dot", "gv", "canon")  # without `dot`, these fall back to the DOT source


class RendererWarning(UserWarning):
    """Graphviz's `dot` was missing or failed, so tapegrad's builtin renderer drew the picture."""


class _DotFailed(Exception):
    """Why a `dot` run gave no output (the message completes "Graphviz's `dot` ...")."""


class GraphTooLarge(ValueError):
    """The graph has more nodes than `max_nodes` and cannot be collapsed under it."""


class RendererUnavailable(RuntimeError):
    """The requested output needs Graphviz's `dot`, which is not installed."""


class GraphPicture(graphviz.Digraph):
    """A graphviz.Digraph whose every output falls back to tapegrad's SVG renderer when `dot`
    is missing or fails, drawing `scene` (what draw_dot described, not later `.node()` calls)."""

    def __init__(self, *args: Any, scene: Scene | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scene = scene
        self.rendered_by: str | None = None
        """Which renderer made the last output: "dot" or "builtin" (None before any)."""

    @property
    def backend(self) -> str:
        """Which renderer displays and saves this picture now: "dot" or "builtin"."""
        return "dot" if shutil.which("dot") else "builtin"

    def dot_timeout(self) -> float:
        """Seconds one `dot` run may take on this graph before the fallback is used."""
        return DOT_SECONDS + DOT_SECONDS_PER_STATEMENT * len(self.body)

    def _output(
        self,
        fmt: str,
        *,
        engine: str | None = None,
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        capped: bool = False,
    ) -> bytes:
        """The picture in `fmt` from `dot`; else, with one RendererWarning, the builtin SVG, the
        DOT source for dot/gv/canon, or for other formats RendererUnavailable."""
        if fmt not in graphviz.FORMATS:
            known = ", ".join(sorted(graphviz.FORMATS))
            raise ValueError(f"unknown format {fmt!r}: one of {known}")
        program = engine or self.engine
        source = self.source
        if capped:
            picture = self.copy()
            picture.graph_attr.setdefault("size", f"{PNG_MAX_INCHES},{PNG_MAX_INCHES}")
            source = picture.source
        cmd = [program, "-T" + ":".join(p for p in (fmt, renderer, formatter) if p)]
        if neato_no_op:
            cmd.append(f"-n{int(neato_no_op)}")
        try:
            out = _run_dot(cmd, source, self.encoding, self.dot_timeout())
        except _DotFailed as failed:
            why = f"`{program}` {failed}"
        else:
            self.rendered_by = "dot"
            return out
        if fmt == "svg":
            data = self._builtin_svg().encode("utf-8")
            what = "drawn by tapegrad's builtin renderer instead"
        elif fmt in SOURCE_FORMATS:
            data = self.source.encode("utf-8")
            what = "wrote the DOT source without a layout instead"
        else:
            raise RendererUnavailable(
                f"{fmt.upper()} output needs Graphviz, and {why}: install Graphviz (apt-get "
                f"install graphviz, brew install graphviz, conda install graphviz) or save the "
                f"picture as .svg (format='svg'), which tapegrad draws without it"
            )
        warnings.warn(f"Graphviz's {why}; {what}", RendererWarning, stacklevel=3)
        self.rendered_by = "builtin" if fmt == "svg" else "source"
        return data

    def pipe(
        self,
        format: str | None = None,  # noqa: A002 - graphviz's name
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        *,
        engine: str | None = None,
        encoding: str | None = None,
    ) -> bytes | str:
        """The picture as bytes (or text, with `encoding`), as graphviz.Digraph.pipe gives it."""
        data = self._output(
            format or self.format,
            engine=engine,
            renderer=renderer,
            formatter=formatter,
            neato_no_op=neato_no_op,
        )
        return data if encoding is None else data.decode(encoding)

    def render(
        self,
        filename: str | os.PathLike | None = None,
        directory: str | os.PathLike | None = None,
        view: bool = False,
        cleanup: bool = False,
        format: str | None = None,  # noqa: A002 - graphviz's name
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        quiet_view: bool = False,
        *,
        outfile: str | os.PathLike | None = None,
        engine: str | None = None,
        raise_if_result_exists: bool = False,
        overwrite_source: bool = False,
    ) -> str:
        """Save the DOT source and the picture next to it (or to `outfile`), as
        graphviz.Digraph.render does; return the picture's path."""
        if outfile is not None:
            outfile = os.fspath(outfile)
            fmt = format or os.path.splitext(outfile)[1][1:].lower()
            if not fmt:
                raise ValueError(f"outfile {outfile!r} has no suffix: pass format=")
            if directory is None:
                outfile = os.path.join(self.directory, outfile)
            if filename is None:
                filename = os.path.splitext(os.path.basename(outfile))[0] + ".gv"
        else:
            fmt = format or self.format
        data = self._output(
            fmt, engine=engine, renderer=renderer, formatter=formatter, neato_no_op=neato_no_op
        )
        source_path = self.save(filename, directory=directory, skip_existing=None)
        if outfile is None:
            suffix = ".".join(p for p in (formatter, renderer, fmt) if p)
            outfile = f"{source_path}.{suffix}"
        if not overwrite_source and os.path.abspath(outfile) == os.path.abspath(source_path):
            raise ValueError(f"outfile {outfile!r} must differ from the source file")
        if raise_if_result_exists and os.path.exists(outfile):
            raise graphviz.FileExistsError(f"output file exists: {outfile!r}")
        with open(outfile, "wb") as fh:
            fh.write(data)
        if cleanup:
            os.remove(source_path)
        if view or quiet_view:
            self._view(outfile, format=fmt, quiet=quiet_view)
        return outfile

    def svg(self) -> str:
        """The picture as an SVG document, from `dot` if it works, else the builtin renderer
        (svgrender.LayoutTooLarge if the graph is too big for it)."""
        return self._output("svg").decode("utf-8")

    def _builtin_svg(self) -> str:
        if self.scene is None:
            raise RendererUnavailable(
                "this picture was not made by draw_dot (a copy?), so only Graphviz can render "
                "it: install Graphviz so that `dot` is on PATH"
            )
        scene = self.scene
        rankdir = self.graph_attr.get("rankdir", scene.rankdir)
        if rankdir != scene.rankdir and rankdir in RANKDIRS:
            scene = replace(scene, rankdir=rankdir)
        return svgrender.render_svg(scene)

    def _repr_mimebundle_(
        self,
        include: Iterable[str] | None = None,
        exclude: Container[str] | None = None,
        **_: object,
    ) -> dict[str, str | bytes]:
        # What Jupyter shows: a PNG or JPEG that needs a missing `dot` becomes SVG.
        bundle: dict[str, str | bytes] = {}
        for mimetype in include or ["image/svg+xml"]:
            if exclude and mimetype in exclude:
                continue
            try:
                if mimetype == "image/svg+xml":
                    bundle[mimetype] = self._repr_image_svg_xml()
                elif mimetype in ("image/png", "image/jpeg"):
                    bundle[mimetype] = self._output(mimetype[len("image/") :], capped=True)
            except RendererUnavailable:
                if not exclude or "image/svg+xml" not in exclude:
                    bundle.setdefault("image/svg+xml", self._repr_image_svg_xml())
        return bundle

    def _repr_image_svg_xml(self) -> str:
        # Never an exception for a missing or overwhelmed renderer: a picture that says why.
        try:
            return self.svg()
        except (svgrender.LayoutTooLarge, RendererUnavailable) as err:
            lines = textwrap.wrap(str(err), 90, break_long_words=False, break_on_hyphens=False)
            return svgrender.message_svg(["tapegrad could not draw this graph:", *lines])

    _repr_svg_ = _repr_image_svg_xml

    def save(
        self,
        filename: str | os.PathLike | None = None,
        directory: str | os.PathLike | None = None,
        *,
        skip_existing: bool | None = False,
    ) -> str:
        """Write the picture in the format `filename`'s suffix names and return its path: .svg
        always works, .png and .pdf need Graphviz, .gv/.dot (or no filename) save the source."""
        if filename is None or skip_existing is not False:  # as graphviz.render() calls it
            return super().save(filename, directory=directory, skip_existing=skip_existing)
        path = os.path.join(os.fspath(directory), os.fspath(filename)) if directory else filename
        path = os.fspath(path)
        suffix = os.path.splitext(path)[1].lower()
        if suffix in SOURCE_SUFFIXES:
            return super().save(filename, directory=directory)
        if suffix not in PICTURE_SUFFIXES:
            raise ValueError(
                f"cannot save a picture as {path!r}: name a file ending in "
                f"{', '.join(PICTURE_SUFFIXES + SOURCE_SUFFIXES)}"
            )
        if suffix == ".svg":
            data = self.svg().encode("utf-8")
        else:
            data = self._output(suffix[1:], capped=True)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        return path


class Digraph(GraphPicture):
    """A drop-in for `graphviz.Digraph` (micrograd's `trace_graph.ipynb`) that also writes
    every `.node()` and `.edge()` into a `Scene`, so its outputs fall back as draw_dot's do.
    The fallback draws boxes, record cells, ellipses and edge labels, not other attributes.
    Labels are DOT, as graphviz's: `<...>` is an HTML-like label that may hold links, so pass
    text you did not write (an op's name) through `tapegrad.markup.dot_text` (draw_dot does)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("scene", None)
        super().__init__(*args, **kwargs)
        if not self.body:  # a copy arrives with DOT statements only: Graphviz alone draws it
            self.scene = Scene(rankdir=self.graph_attr.get("rankdir", "TB"))

    def node(
        self,
        name: str,
        label: str | None = None,
        _attributes: dict[str, str] | None = None,
        **attrs: Any,
    ) -> None:
        """graphviz's `node`, also kept in the scene for the builtin renderer."""
        super().node(name, label=label, _attributes=_attributes, **attrs)
        if self.scene is not None:
            name = str(name)
            text = name if label is None else str(label)
            shape = str(attrs.get("shape", "ellipse"))
            if shape in ("record", "Mrecord"):
                fields = tuple(_record_fields(text))
                node = Node(name, fields, "group" if shape == "Mrecord" else "record")
            else:
                node = Node(name, (text,), "ellipse")
            self.scene.nodes = [n for n in self.scene.nodes if n.name != name] + [node]

    def edge(self, tail_name: str, head_name: str, label: str | None = None, **kwargs: Any) -> None:
        """graphviz's `edge`, also kept in the scene for the builtin renderer."""
        super().edge(tail_name, head_name, label=label, **kwargs)
        if self.scene is not None:
            self.scene.edges.append(Edge(str(tail_name), str(head_name), str(label or "")))

    def _builtin_svg(self) -> str:
        if self.scene is not None:  # as Graphviz does, an edge's unnamed ends are ellipses
            named = {n.name for n in self.scene.nodes}
            for edge in self.scene.edges:
                for end in (edge.tail, edge.head):
                    if end not in named:
                        named.add(end)
                        self.scene.nodes.append(Node(end, (end,), "ellipse"))
        return super()._builtin_svg()


def _record_fields(label: str) -> list[str]:
    """The cells of a record label: "{ data 1.0 | grad 0.5 }" -> ["data 1.0", "grad 0.5"]."""
    text = label.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    cells, cell, escaped = [], [], False
    for ch in text:
        if escaped:
            cell.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            cells.append("".join(cell).strip())
            cell = []
        elif ch not in "{}":
            cell.append(ch)
    cells.append("".join(cell).strip())
    return cells


def _run_dot(cmd: list[str], source: str, encoding: str, timeout: float) -> bytes:
    """Run a Graphviz program on `source`; its stdout, or _DotFailed saying why not."""
    try:
        data = source.encode(encoding)
    except UnicodeEncodeError as e:
        reason = f"cannot take this graph's text: {e.reason} ({e.object[e.start]!r})"
        raise _DotFailed(reason) from None
    posix = os.name == "posix"
    try:  # its own process group, so a timeout kills whatever the program started too
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=posix,
        )
    except FileNotFoundError:
        raise _DotFailed("is not installed (not on PATH)") from None
    except OSError as e:
        raise _DotFailed(f"cannot be run: {e.strerror or e}") from None
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc, posix)
        raise _DotFailed(f"took longer than {timeout:.3g} s (the limit for this graph)") from None
    except BaseException:
        _kill(proc, posix)
        raise
    if proc.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()
        detail = f": {lines[0][:200]}" if lines else ""
        raise _DotFailed(f"failed (exit status {proc.returncode}{detail})")
    return out


def _kill(proc: subprocess.Popen, posix: bool) -> None:
    with contextlib.suppress(OSError):  # it may have ended meanwhile
        if posix:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    proc.communicate()


def draw_dot(
    root: Value,
    format: str = "svg",  # noqa: A002 - the lecture's and graphviz's name
    rankdir: str = "LR",
    *,
    show_grad: bool = True,
    precision: int = 4,
    fmt: str | None = None,
    max_nodes: int | None = 1000,
    highlight: Value | str | Iterable[Value | str] = (),
    collapse: Collapse | None = None,
) -> GraphPicture:
    """Draw the graph below `root`, as the lecture's `draw_dot` does: a record `{ label |
    data 2.0000 | grad 0.0000 }` per Value, an ellipse per op, edges child -> op -> result.

    Args:
      root: the Value whose graph to draw (usually the loss, after `backward()`).
      format: the image format a notebook shows or `render()` writes ("svg", "png", ...).
      rankdir: "LR" (left to right, the default), "TB", "RL" or "BT".
      show_grad: include the grad cell.
      precision: digits after the point.
      fmt: a full format spec such as ".3e" instead of `precision` (fmt wins).
      max_nodes: past this many Values, a graph made inside modules is collapsed by layer
        (the picture says so) and any other graph raises GraphTooLarge; None for no limit.
      highlight: Values (or labels) whose boxes are filled in colour.
      collapse: "layer" or "neuron" draws each module (see `tapegrad.scope`) as one box with
        its inputs, outputs, op count and the gradient norm of its parameters.

    Returns:
      A GraphPicture: a graphviz.Digraph that shows itself in a notebook and writes a file
      with `save("graph.svg")` (SVG, PNG or PDF by suffix), drawn by Graphviz's `dot` when
      it is installed and by tapegrad's own renderer otherwise. Its `scene` holds what it
      shows.

    Example:
      >>> from tapegrad import Value, draw_dot
      >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
      >>> L = a * b
      >>> L.label = "L"
      >>> L.backward()
      >>> picture = draw_dot(L)
      >>> for node in picture.scene.nodes:
      ...     print(" | ".join(node.fields))
      a | data 2.0000 | grad -3.0000
      b | data -3.0000 | grad 2.0000
      L | data -6.0000 | grad 1.0000
      *
    """
    number = check_options("draw_dot", root, rankdir, precision, fmt, max_nodes)
    order = topological_order(root)
    marked = _resolve_highlight(highlight, order)
    collapse, note = _auto_collapse(order, collapse, max_nodes)
    scene = _scene(order, collapse, number, show_grad, marked, max_nodes)
    scene.rankdir = rankdir
    scene.label = note
    picture = GraphPicture(format=format, graph_attr={"rankdir": rankdir}, scene=scene)
    _emit(picture, scene)
    return picture


def check_options(
    who: str, root: object, rankdir: str, precision: int, fmt: str | None, max_nodes: int | None
) -> str:
    """Check the arguments draw_dot and explain share; the number format to use."""
    if not isinstance(root, Value):
        raise TypeError(f"{who} needs a tapegrad Value as root, got {type(root).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    number = number_format(precision, fmt)
    if max_nodes is not None and (
        not isinstance(max_nodes, int) or isinstance(max_nodes, bool) or max_nodes < 1
    ):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    return number


def _auto_collapse(
    order: list[Value], collapse: Collapse | None, max_nodes: int | None
) -> tuple[Collapse | None, str]:
    """`collapse`, or "layer" when none was asked for and the graph has more than `max_nodes`
    Values (GraphTooLarge if none was made in a module scope); and the picture's note."""
    if collapse is not None or max_nodes is None or len(order) <= max_nodes:
        return collapse, ""
    if not any(getattr(n, "_scope", None) for n in order):
        raise GraphTooLarge(
            f"the graph has {len(order)} values, more than max_nodes={max_nodes}, and none "
            f"was made inside a module scope, so it cannot be collapsed: pass a larger "
            f"max_nodes (or None), or build it under tapegrad.scope(...) and use "
            f"collapse='layer'"
        )
    return "layer", f"{len(order)} values > max_nodes={max_nodes}: collapsed by layer"


def _scene(
    order: list[Value],
    collapse: Collapse | None,
    number: str,
    show_grad: bool,
    marked: set[Value],
    max_nodes: int | None,
) -> Scene:
    """Every Value as a box, or with `collapse` each module as one; GraphTooLarge past max_nodes."""
    if collapse is None:
        return _value_scene(order, number, show_grad, marked)
    scene = _collapsed_scene(order, collapse, number, show_grad, marked)
    boxes = sum(1 for n in scene.nodes if n.shape != "ellipse")
    if max_nodes is not None and boxes > max_nodes:
        raise GraphTooLarge(
            f"collapsed by {collapse!r} the graph still has {boxes} boxes, more than "
            f"max_nodes={max_nodes}: try collapse='layer' or a larger max_nodes"
        )
    return scene


def _resolve_highlight(
    highlight: Value | str | Iterable[Value | str], order: list[Value]
) -> set[Value]:
    if isinstance(highlight, (Value, str)):
        highlight = [highlight]
    nodes = set(order)
    marked = set()
    for item in highlight:
        if isinstance(item, Value):
            if item not in nodes:
                raise ValueError(f"highlight: {item!r} is not in the graph being drawn")
            marked.add(item)
        elif isinstance(item, str):
            hits = [n for n in order if n.label == item]
            if not hits:
                raise ValueError(f"highlight: no Value in the graph is labelled {item!r}")
            marked.update(hits)
        else:
            raise TypeError(
                f"highlight takes Values or labels (str), got {type(item).__name__}: {item!r:.60}"
            )
    return marked


def _add_value(
    scene: Scene, node: Value, name: str, number: str, show_grad: bool, marked: set[Value]
) -> None:
    """A Value's record and, when an op made it, the op's ellipse with its edge to the record."""
    fields = [_printable(node.label), f"data {format(node.data, number)}"]
    if show_grad:
        fields.append(f"grad {format(float(node.grad), number)}")
    constant = type(node) is Constant
    fill = HIGHLIGHT_FILL if node in marked else None
    color = CONSTANT_COLOR if constant else "black"
    scene.nodes.append(Node(name, tuple(fields), "record", fill, color, dashed=constant))
    if node._prev:
        scene.nodes.append(Node(f"{name}_op", (_printable(op_label(node)),), "ellipse"))
        scene.edges.append(Edge(f"{name}_op", name))


def _value_scene(order: list[Value], number: str, show_grad: bool, marked: set[Value]) -> Scene:
    names = {node: f"n{i}" for i, node in enumerate(order)}
    scene = Scene()
    for node in order:
        _add_value(scene, node, names[node], number, show_grad, marked)
        scene.edges.extend(Edge(names[c], f"{names[node]}_op") for c in node._prev)
    return scene


def _group_record(group: Group, name: str, number: str, marked: set[Value]) -> Node:
    fields = [
        _printable(group.name),
        f"{len(group.members)} values, {group.ops} ops",
        f"in {group.inputs}, out {group.outputs}",
        f"{group.params} params",
    ]
    if group.params:
        fields.append(f"grad norm {format(group.grad_norm, number)}")
    hot = any(m in marked for m in group.members)
    return Node(name, tuple(fields), "group", fill=HIGHLIGHT_FILL if hot else GROUP_FILL)


def _collapsed_scene(
    order: list[Value], collapse: Collapse, number: str, show_grad: bool, marked: set[Value]
) -> Scene:
    of, groups = group_nodes(order, collapse)
    box = {g.name: f"g{i}" for i, g in enumerate(groups)}
    names: dict[Value, str] = {}
    scene = Scene()
    for i, node in enumerate(order):  # ungrouped nodes keep their record and op node
        if node not in of:
            names[node] = f"n{i}"
            _add_value(scene, node, names[node], number, show_grad, marked)
    scene.nodes.extend(_group_record(g, box[g.name], number, marked) for g in groups)

    def endpoint(node: Value) -> str:
        group = of.get(node)
        return box[group.name] if group is not None else names[node]

    counts: dict[tuple[str, str], int] = {}
    for node in order:
        group = of.get(node)
        for child in node._prev:
            if group is not None and of.get(child) is group:
                continue
            tail = endpoint(child)
            head = box[group.name] if group is not None else f"{names[node]}_op"
            if group is None and child not in of:
                scene.edges.append(Edge(tail, head))  # value -> op, as in the full picture
            else:
                counts[(tail, head)] = counts.get((tail, head), 0) + 1
    scene.edges.extend(Edge(t, h, str(k) if k > 1 else "") for (t, h), k in counts.items())
    return scene


def _printable(text: object) -> str:
    """A label as text both renderers show alike: control characters (but tab and newlines)
    and lone surrogates as U+FFFD."""
    text = text if isinstance(text, str) else str(text)
    if text.isprintable():
        return text
    return "".join(
        "\ufffd" if ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cs") else ch
        for ch in text
    )


def _emit(picture: GraphPicture, scene: Scene) -> None:
    """Write `scene` into `picture` as DOT statements, every text through markup's DOT
    escaping (so an op name such as `<<TABLE>...>>` is text, never an HTML-like label)."""
    if scene.label:
        picture.attr(label=dot_text(scene.label))
    for node in scene.nodes:
        attrs: dict[str, str] = {}
        if node.shape == "ellipse":
            label = dot_text(node.fields[0])
        else:
            label = "{" + " | ".join(dot_field(f) for f in node.fields) + "}"
            attrs["shape"] = "Mrecord" if node.shape == "group" else "record"
        styles = []
        if node.fill:
            styles.append("filled")
            attrs["fillcolor"] = node.fill
        if node.dashed:
            styles.append("dashed")
        if styles:
            attrs["style"] = ",".join(styles)
        if node.color != "black":
            attrs["color"] = attrs["fontcolor"] = node.color
        picture.node(node.name, label=label, **attrs)
    for edge in scene.edges:
        picture.edge(edge.tail, edge.head, label=dot_text(edge.label) if edge.label else None)
