"""`draw_dot`: the lecture's picture of a graph, as a graphviz.Digraph that renders anywhere.

The picture is described once, as a `svgrender.Scene`, and turned into DOT source. Displaying
or saving it uses Graphviz's `dot` program when it is on PATH and otherwise tapegrad's own
renderer (grandalf layout, SVG written in `svgrender`), so a notebook cell that shows a graph
works on a machine with only the pip packages installed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable

import graphviz

from . import svgrender
from .collapse import Group, group_nodes
from .engine import Constant, Value
from .graph import topological_order
from .svgrender import Edge, Node, Scene
from .textgraph import number_format

RANKDIRS = ("LR", "TB", "RL", "BT")
PICTURE_SUFFIXES = (".svg", ".png", ".pdf")
SOURCE_SUFFIXES = (".gv", ".dot")
PNG_MAX_INCHES = 60  # Graphviz scales bigger pictures down: at most 5760 x 5760 pixels

HIGHLIGHT_FILL = "#ffe082"
GROUP_FILL = "#e3f2fd"
CONSTANT_COLOR = "#666666"


class GraphTooLarge(ValueError):
    """The graph has more nodes than `max_nodes` and cannot be collapsed under it."""


class RendererUnavailable(RuntimeError):
    """The requested output needs Graphviz's `dot`, which is not installed."""


def dot_available() -> bool:
    """True when Graphviz's `dot` program is on PATH (looked up on every call)."""
    return shutil.which("dot") is not None


class GraphPicture(graphviz.Digraph):
    """A graphviz.Digraph (`.source`, `.render`, `.node`, ... all work) that also renders
    without Graphviz: Jupyter display and `save(path)` fall back to tapegrad's SVG renderer.

    The fallback draws the picture `draw_dot` described (its `scene`); nodes or edges added
    afterwards with `.node()`/`.edge()` appear only where Graphviz renders.
    """

    def __init__(self, *args, scene: Scene | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scene = scene

    @property
    def backend(self) -> str:
        """Which renderer displays and saves this picture now: "dot" or "builtin"."""
        return "dot" if dot_available() else "builtin"

    def svg(self) -> str:
        """The picture as an SVG document, from `dot` if installed, else the builtin renderer.

        Raises svgrender.LayoutTooLarge if only the builtin renderer is there and the graph
        is too big for it."""
        if dot_available():
            try:
                return self.pipe(format="svg", encoding="utf-8")
            except graphviz.ExecutableNotFound:
                pass  # on PATH but not runnable: fall back
        return self._builtin_svg()

    def _builtin_svg(self) -> str:
        if self.scene is None:
            raise RendererUnavailable(
                "this picture was not made by draw_dot (a copy?), so only Graphviz can render "
                "it: install Graphviz so that `dot` is on PATH"
            )
        rankdir = self.graph_attr.get("rankdir", self.scene.rankdir)
        if rankdir != self.scene.rankdir and rankdir in RANKDIRS:
            scene = Scene(self.scene.nodes, self.scene.edges, rankdir, self.scene.label)
        else:
            scene = self.scene
        return svgrender.render_svg(scene)

    def _repr_image_svg_xml(self) -> str:
        # What Jupyter shows (via graphviz's _repr_mimebundle_): never an exception for a
        # missing or overwhelmed renderer, a picture that says what to do instead.
        try:
            return self.svg()
        except (svgrender.LayoutTooLarge, RendererUnavailable) as err:
            return svgrender.message_svg(["tapegrad could not draw this graph:", *_wrap(err)])

    def _repr_svg_(self) -> str:
        return self._repr_image_svg_xml()

    def _repr_image_png(self) -> bytes:
        return self._dot_bytes("png")

    def _repr_image_jpeg(self) -> bytes:
        return self._dot_bytes("jpeg")

    def _dot_bytes(self, fmt: str) -> bytes:
        if not dot_available():
            raise RendererUnavailable(
                f"{fmt.upper()} output needs Graphviz's `dot` program, which is not on PATH: "
                f"install Graphviz (apt-get install graphviz, brew install graphviz, conda "
                f"install graphviz) or save the picture as .svg, which works without it"
            )
        capped = self.copy()
        capped.graph_attr.setdefault("size", f"{PNG_MAX_INCHES},{PNG_MAX_INCHES}")
        return capped.pipe(format=fmt)

    def save(
        self,
        filename: str | os.PathLike | None = None,
        directory: str | os.PathLike | None = None,
        *,
        skip_existing: bool | None = False,
    ) -> str:
        """Write the picture in the format `filename`'s suffix names and return its path.

        .svg always works (Graphviz or the builtin renderer); .png and .pdf need Graphviz;
        .gv/.dot (or no filename) save the DOT source, as graphviz.Digraph.save does.
        """
        if filename is None or skip_existing is not False:
            # graphviz.render() saves its source through here (skip_existing=None).
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
            data = self._dot_bytes(suffix[1:])
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        return path


def _wrap(err: Exception, width: int = 90) -> list[str]:
    words, lines, line = str(err).split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + ([line] if line else [])


def draw_dot(
    root: Value,
    format: str = "svg",  # noqa: A002 - the lecture's and graphviz's name
    rankdir: str = "LR",
    *,
    show_grad: bool = True,
    precision: int = 4,
    fmt: str | None = None,
    max_nodes: int | None = 1000,
    highlight: Iterable = (),
    collapse: str | Callable[[str], str | None] | None = None,
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
    if not isinstance(root, Value):
        raise TypeError(f"draw_dot needs a tapegrad Value as root, got {type(root).__name__}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    number = number_format(precision, fmt)
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    order = topological_order(root)
    marked = _resolve_highlight(highlight, order)
    note = ""
    if collapse is None and max_nodes is not None and len(order) > max_nodes:
        if not any(getattr(n, "_scope", None) for n in order):
            raise GraphTooLarge(
                f"the graph has {len(order)} values, more than max_nodes={max_nodes}, and none "
                f"was made inside a module scope, so it cannot be collapsed: pass a larger "
                f"max_nodes (or None), or build it under tapegrad.scope(...) and use "
                f"collapse='layer'"
            )
        collapse = "layer"
        note = f"{len(order)} values > max_nodes={max_nodes}: collapsed by layer"
    if collapse is None:
        scene = _value_scene(order, number, show_grad, marked)
    else:
        scene = _collapsed_scene(order, collapse, number, show_grad, marked)
        boxes = sum(1 for n in scene.nodes if n.shape != "ellipse")
        if max_nodes is not None and boxes > max_nodes:
            raise GraphTooLarge(
                f"collapsed by {collapse!r} the graph still has {boxes} boxes, more than "
                f"max_nodes={max_nodes}: try collapse='layer' or a larger max_nodes"
            )
    scene.rankdir = rankdir
    scene.label = note
    picture = GraphPicture(format=format, graph_attr={"rankdir": rankdir}, scene=scene)
    _emit(picture, scene)
    return picture


def _resolve_highlight(highlight: Iterable, order: list) -> set:
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


def _value_record(node: Value, name: str, number: str, show_grad: bool, marked: set) -> Node:
    fields = [node.label, f"data {format(node.data, number)}"]
    if show_grad:
        fields.append(f"grad {format(float(node.grad), number)}")
    constant = type(node) is Constant
    return Node(
        name,
        tuple(fields),
        "record",
        fill=HIGHLIGHT_FILL if node in marked else None,
        color=CONSTANT_COLOR if constant else "black",
        dashed=constant,
    )


def _value_scene(order: list, number: str, show_grad: bool, marked: set) -> Scene:
    names = {node: f"n{i}" for i, node in enumerate(order)}
    scene = Scene()
    for node in order:
        name = names[node]
        scene.nodes.append(_value_record(node, name, number, show_grad, marked))
        if node._prev:
            scene.nodes.append(Node(f"{name}_op", (node._op,), "ellipse"))
            scene.edges.append(Edge(f"{name}_op", name))
            scene.edges.extend(Edge(names[c], f"{name}_op") for c in node._prev)
    return scene


def _group_record(group: Group, name: str, number: str, marked: set) -> Node:
    fields = [
        group.name,
        f"{len(group.members)} values, {group.ops} ops",
        f"in {group.inputs}, out {group.outputs}",
        f"{group.params} params",
    ]
    if group.params:
        fields.append(f"grad norm {format(group.grad_norm, number)}")
    hot = any(m in marked for m in group.members)
    return Node(name, tuple(fields), "group", fill=HIGHLIGHT_FILL if hot else GROUP_FILL)


def _collapsed_scene(order: list, collapse, number: str, show_grad: bool, marked: set) -> Scene:
    of, groups = group_nodes(order, collapse)
    box = {g.name: f"g{i}" for i, g in enumerate(groups)}
    names = {}
    scene = Scene()
    for i, node in enumerate(order):  # ungrouped nodes keep their record and op node
        if node in of:
            continue
        names[node] = name = f"n{i}"
        scene.nodes.append(_value_record(node, name, number, show_grad, marked))
        if node._prev:
            scene.nodes.append(Node(f"{name}_op", (node._op,), "ellipse"))
            scene.edges.append(Edge(f"{name}_op", name))
    scene.nodes.extend(_group_record(g, box[g.name], number, marked) for g in groups)

    def endpoint(node) -> str:
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


def _record_escape(text: str) -> str:
    """`text` as one cell of a Graphviz record label: structure characters escaped."""
    out = []
    for ch in text:
        if ch in '\\{}|<>"':
            out.append("\\" + ch)
        elif ch in "\r\n\t":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def _plain_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("\r", " ")


def _emit(picture: GraphPicture, scene: Scene) -> None:
    """Write `scene` into `picture` as DOT statements."""
    if scene.label:
        picture.attr(label=_plain_escape(scene.label))
    for node in scene.nodes:
        attrs: dict[str, str] = {}
        if node.shape == "ellipse":
            label = _plain_escape(node.fields[0])
        else:
            label = "{" + " | ".join(_record_escape(f) for f in node.fields) + "}"
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
        if edge.label:
            picture.edge(edge.tail, edge.head, label=_plain_escape(edge.label))
        else:
            picture.edge(edge.tail, edge.head)
