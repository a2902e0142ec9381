"""Pictures of graphs without Graphviz: a `Scene` laid out by grandalf (a pure-Python Sugiyama
layout) and drawn as SVG written here. grandalf slows down sharply on big graphs, so the layout
refuses more than `MAX_LAYOUT_VERTICES` vertices with an error that says what to do instead."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

from .markup import xml_text

Point = tuple[float, float]
Route = list[Point]

MAX_LAYOUT_VERTICES = 40000
"""The most vertices (nodes plus long-edge dummies) handed to grandalf: a few seconds' work."""

FONT_SIZE = 14.0
FONT_FAMILY = "Times,serif"  # Graphviz's default face, so both renderers look alike
_RANKSEP = 36.0  # gap between layers, as Graphviz's ranksep 0.5in
_NODESEP = 18.0  # gap between nodes in a layer, as Graphviz's nodesep 0.25in
_MARGIN = 4.0
_ARROW = 10.0  # arrowhead length


class LayoutTooLarge(ValueError):
    """The graph is too big for the pure-Python layout; install Graphviz or collapse it."""


@dataclass(frozen=True)
class Node:
    """One box of a picture: `fields` are a record's cells (one text for an ellipse); shape is
    "record", "ellipse" (an op) or "group" (a rounded record for a collapsed module)."""

    name: str
    fields: tuple[str, ...]
    shape: str = "record"
    fill: str | None = None
    color: str = "black"
    dashed: bool = False


@dataclass(frozen=True)
class Edge:
    """An arrow from `tail` to `head` (node names), with an optional text at its middle."""

    tail: str
    head: str
    label: str = ""


@dataclass
class Scene:
    """Everything a picture shows; both renderers draw exactly this."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    rankdir: str = "LR"
    label: str = ""


# Advance widths of Times at 1pt, coarsely: enough to size boxes around their text.
_NARROW = set(".,:;'!|ijlft()[] ")
_WIDE = set("mwMW%@")


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Estimated width in points of `text` set in Times at `size`."""
    w = 0.0
    for ch in text:
        if ch in _NARROW:
            w += 0.3
        elif ch in _WIDE:
            w += 0.85
        elif ch.isupper():
            w += 0.68
        else:
            w += 0.5
    return w * size


@dataclass
class _Placed:
    node: Node
    w: float  # size in the final picture
    h: float
    cells: list[float]  # cell sizes along the record's cell axis
    horizontal: bool  # cells side by side (True) or stacked
    x: float = 0.0  # centre in the final picture
    y: float = 0.0


def _measure(node: Node, rankdir: str) -> _Placed:
    if node.shape == "ellipse":
        text = node.fields[0] if node.fields else ""
        w = max(54.0, text_width(text) * 1.25 + 16.0)
        return _Placed(node, w, 36.0, [w], True)
    horizontal = rankdir in ("LR", "RL")
    if horizontal:
        cells = [max(text_width(t) + 16.0, 20.0) for t in node.fields]
        return _Placed(node, sum(cells), 36.0, cells, True)
    cells = [23.0 for _ in node.fields]
    w = max(max((text_width(t) + 16.0 for t in node.fields), default=20.0), 54.0)
    return _Placed(node, w, max(sum(cells), 36.0), cells, False)


@dataclass(slots=True)
class _View:
    """What grandalf reads and writes on a vertex: its size and, after layout, its centre."""

    w: float
    h: float
    xy: Point = (0.0, 0.0)


class _EdgeView:
    __slots__ = ("pts",)

    def setpath(self, pts: Route) -> None:
        self.pts = pts


def layout(
    scene: Scene, max_vertices: int | None = None
) -> tuple[dict[str, _Placed], dict[tuple[str, str], Route]]:
    """(placed nodes by name, edge polylines) of `scene`, in picture coordinates (y down);
    LayoutTooLarge before the slow part past `max_vertices` (default MAX_LAYOUT_VERTICES)."""
    if max_vertices is None:
        max_vertices = MAX_LAYOUT_VERTICES
    estimate = _estimate_vertices(scene, max_vertices)
    if estimate > max_vertices:
        raise LayoutTooLarge(_too_large(estimate, max_vertices))
    placed = {n.name: _measure(n, scene.rankdir) for n in scene.nodes}
    if not placed:
        return placed, {}
    across = scene.rankdir in ("LR", "RL")  # grandalf stacks layers top to bottom; transpose
    vertices, gedges, graph = _grandalf_graph(scene, placed, across)
    _place_components(graph, max_vertices)
    return placed, _to_picture(scene.rankdir, placed, vertices, gedges)


def _grandalf_graph(
    scene: Scene, placed: dict[str, _Placed], across: bool
) -> tuple[dict[str, Any], dict[tuple[str, str], Any], Any]:
    """grandalf's vertices (by name), edges (by (tail, head), no self-loops) and graph."""
    from grandalf.graphs import Edge as GEdge
    from grandalf.graphs import Graph, Vertex

    vertices = {}
    for name, p in placed.items():
        v = Vertex(name)
        v.view = _View(p.h, p.w) if across else _View(p.w, p.h)
        vertices[name] = v
    gedges = {}
    for e in scene.edges:
        if e.tail not in vertices or e.head not in vertices:
            missing = e.tail if e.tail not in vertices else e.head
            raise ValueError(f"edge {e.tail!r} -> {e.head!r} names an unknown node {missing!r}")
        key = (e.tail, e.head)
        if key not in gedges and e.tail != e.head:
            ge = GEdge(vertices[e.tail], vertices[e.head])
            ge.view = _EdgeView()
            gedges[key] = ge
    return vertices, gedges, Graph(list(vertices.values()), list(gedges.values()))


def _place_components(graph: Any, max_vertices: int) -> None:
    """Lay out each connected component with Sugiyama's method, side by side."""
    offset, total = 0.0, 0
    for component in graph.C:
        sug = _fast_sugiyama()(component)
        sug.xspace, sug.yspace = _NODESEP, _RANKSEP
        roots = [v for v in component.sV if not v.e_in()]
        sug.init_all(roots=roots, inverted_edges=[], optimize=True)
        total += sum(len(layer) for layer in sug.layers)
        if total > max_vertices:
            raise LayoutTooLarge(_too_large(total, max_vertices))
        sug.draw(3)
        left = min(v.view.xy[0] - v.view.w / 2 for v in component.sV)
        right = offset
        for v in component.sV:
            x, y = v.view.xy
            v.view.xy = (x - left + offset, y)
            right = max(right, x - left + offset + v.view.w / 2)
        for ge in component.sE:
            ge.view.pts = [(x - left + offset, y) for x, y in ge.view.pts]
        offset = right + 2 * _NODESEP


def _to_picture(
    rankdir: str,
    placed: dict[str, _Placed],
    vertices: dict[str, Any],
    gedges: dict[tuple[str, str], Any],
) -> dict[tuple[str, str], Route]:
    """Set every node's centre from grandalf's coordinates (transposed for LR/RL, mirrored for
    RL/BT) and return the edge polylines."""
    across = rankdir in ("LR", "RL")
    mirror = rankdir in ("RL", "BT")
    extent = max(v.view.xy[1] for v in vertices.values())  # the last layer's place (y)

    def final(pt: Point) -> Point:
        x, y = pt
        if mirror:
            y = extent - y
        return (y, x) if across else (x, y)

    for name, p in placed.items():
        p.x, p.y = final(vertices[name].view.xy)
    return {key: [final(pt) for pt in ge.view.pts] for key, ge in gedges.items()}


def _estimate_vertices(scene: Scene, cap: int) -> int:
    """Nodes plus the dummies grandalf will route long edges through, counted (up to `cap`)
    before grandalf allocates them, with ranks as grandalf's rank optimisation gives them."""
    total = len(scene.nodes)
    if total > cap:
        return total
    succ: dict[str, list[str]] = {n.name: [] for n in scene.nodes}
    indegree = dict.fromkeys(succ, 0)
    for e in {(e.tail, e.head) for e in scene.edges if e.tail != e.head}:
        if e[0] in succ and e[1] in succ:
            succ[e[0]].append(e[1])
            indegree[e[1]] += 1
    sources = [n for n, d in indegree.items() if d == 0]
    rank = dict.fromkeys(sources, 0)
    ready, left = list(sources), dict(indegree)
    while ready:
        name = ready.pop()
        for nxt in succ[name]:
            rank[nxt] = max(rank.get(nxt, 0), rank[name] + 1)
            left[nxt] -= 1
            if left[nxt] == 0:
                ready.append(nxt)
    for name in sources:
        if succ[name]:
            rank[name] = min(rank[s] for s in succ[name]) - 1
    for tail, heads in succ.items():
        for head in heads:
            total += max(rank.get(head, 0) - rank.get(tail, 0) - 1, 0)
            if total > cap:
                return total
    return total


def _too_large(n: int, cap: int) -> str:
    return (
        f"the graph needs {n} layout vertices, more than the pure-Python renderer's limit of "
        f"{cap}: install Graphviz (e.g. `apt-get install graphviz`, `brew install graphviz`) so "
        f"`dot` draws it, or pass collapse='layer' / collapse='neuron' to draw_dot"
    )


@functools.cache
def _fast_sugiyama() -> type:
    """grandalf's SugiyamaLayout with its alignment conflicts in a set, not a list: the same
    layout in linear time, not quadratic, on graphs with many long edges."""
    from grandalf.layouts import SugiyamaLayout

    class FastSugiyama(SugiyamaLayout):
        def _detect_alignment_conflicts(self) -> None:
            super()._detect_alignment_conflicts()
            self.conflicts: set[Any] = set(self.conflicts)

    return FastSugiyama


def render_svg(scene: Scene, max_vertices: int | None = None) -> str:
    """The picture of `scene` as an SVG document (a string)."""
    placed, routes = layout(scene, max_vertices)
    labels: dict[tuple[str, str], list[str]] = {}  # the labels of each (tail, head)'s edges
    for e in scene.edges:
        labels.setdefault((e.tail, e.head), []).append(e.label)

    body: list[str] = []
    for i, ((tail, head), texts) in enumerate(labels.items()):
        if tail == head:
            continue
        for k, text in enumerate(texts):  # repeated edges bow apart, 10 points each
            bend = (k - (len(texts) - 1) / 2) * 10.0
            pts = _clip(routes[(tail, head)], placed[tail], placed[head], bend)
            body.append(_edge_svg(i, tail, head, pts, text))
    for i, p in enumerate(placed.values()):
        body.append(_node_svg(i, p))

    xs = [p.x - p.w / 2 for p in placed.values()] + [p.x + p.w / 2 for p in placed.values()]
    ys = [p.y - p.h / 2 for p in placed.values()] + [p.y + p.h / 2 for p in placed.values()]
    for pts in routes.values():
        xs += [x for x, _ in pts]
        ys += [y for _, y in pts]
    x0, y0 = min(xs, default=0.0) - _MARGIN, min(ys, default=0.0) - _MARGIN
    width, height = max(xs, default=0.0) - x0 + _MARGIN, max(ys, default=0.0) - y0 + _MARGIN
    if scene.label:
        width = max(width, text_width(scene.label) + 2 * _MARGIN)
        body.append(_text(x0 + width / 2, y0 + height + FONT_SIZE, scene.label, anchor="middle"))
        height += FONT_SIZE + 2 * _MARGIN
    return _document(width, height, x0, y0, body)


def message_svg(lines: list[str]) -> str:
    """A small SVG that shows `lines` of text: what a notebook displays instead of failing."""
    width = max((text_width(t) for t in lines), default=0.0) + 4 * _MARGIN
    height = (len(lines) + 1) * FONT_SIZE * 1.4
    body = [
        f'<rect x="0" y="0" width="{width:.2f}" height="{height:.2f}" fill="#fff3e0" '
        f'stroke="#e65100"/>'
    ]
    for i, line in enumerate(lines):
        body.append(_text(2 * _MARGIN, (i + 1) * FONT_SIZE * 1.4, line, anchor="start"))
    return _document(width, height, 0.0, 0.0, body)


def _document(width: float, height: float, x0: float, y0: float, body: list[str]) -> str:
    head = (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}pt" height="{height:.0f}pt" '
        f'viewBox="{x0:.2f} {y0:.2f} {width:.2f} {height:.2f}" '
        f'font-family="{FONT_FAMILY}" font-size="{FONT_SIZE:.2f}">\n'
        "<!-- drawn by tapegrad's builtin renderer: grandalf layout -->\n"
        f'<rect x="{x0:.2f}" y="{y0:.2f}" width="{width:.2f}" height="{height:.2f}" '
        f'fill="white"/>\n'
    )
    return head + "\n".join(body) + "\n</svg>\n"


def _text(x: float, y: float, text: str, anchor: str = "middle", color: str = "black") -> str:
    return (
        f'<text x="{x:.2f}" y="{y:.2f}" text-anchor="{anchor}" fill="{xml_text(color)}">'
        f"{xml_text(text)}</text>"
    )


def _node_svg(i: int, p: _Placed) -> str:
    n = p.node
    stroke = f'stroke="{xml_text(n.color)}"' + (' stroke-dasharray="5,2"' if n.dashed else "")
    fill = f'fill="{xml_text(n.fill)}"' if n.fill else 'fill="none"'
    left, top = p.x - p.w / 2, p.y - p.h / 2
    parts = [f'<g id="node{i + 1}" class="node"><title>{xml_text(n.name)}</title>']
    if n.shape == "ellipse":
        parts.append(
            f'<ellipse cx="{p.x:.2f}" cy="{p.y:.2f}" rx="{p.w / 2:.2f}" ry="{p.h / 2:.2f}" '
            f"{fill} {stroke}/>"
        )
        parts.append(_text(p.x, p.y + FONT_SIZE * 0.3, n.fields[0] if n.fields else "", "middle"))
    else:
        rx = ' rx="8" ry="8"' if n.shape == "group" else ""
        parts.append(
            f'<rect x="{left:.2f}" y="{top:.2f}" width="{p.w:.2f}" height="{p.h:.2f}"{rx} '
            f"{fill} {stroke}/>"
        )
        pos = left if p.horizontal else top
        for k, (size, text) in enumerate(zip(p.cells, n.fields, strict=True)):
            if p.horizontal:
                x1, y1, x2, y2 = pos, top, pos, top + p.h
                middle = (pos + size / 2, p.y + FONT_SIZE * 0.3)
            else:
                x1, y1, x2, y2 = left, pos, left + p.w, pos
                middle = (p.x, pos + size / 2 + FONT_SIZE * 0.3)
            if k:  # the line between this cell and the one before
                parts.append(
                    f'<line x1="{x1:.2f}" y1="{y1:.2f}" x2="{x2:.2f}" y2="{y2:.2f}" {stroke}/>'
                )
            parts.append(_text(*middle, text, color=n.color))
            pos += size
    parts.append("</g>")
    return "".join(parts)


def _boundary(p: _Placed, toward: Point) -> Point:
    """Where the ray from p's centre toward `toward` leaves p's outline."""
    dx, dy = toward[0] - p.x, toward[1] - p.y
    if dx == 0.0 and dy == 0.0:
        return p.x, p.y
    hw, hh = p.w / 2, p.h / 2
    if p.node.shape == "ellipse":
        t = 1.0 / math.sqrt((dx / hw) ** 2 + (dy / hh) ** 2)
    else:
        t = min(hw / abs(dx) if dx else math.inf, hh / abs(dy) if dy else math.inf)
    t = min(t, 1.0)
    return p.x + dx * t, p.y + dy * t


def _clip(pts: Route, tail: _Placed, head: _Placed, bend: float) -> Route:
    """The route from tail's outline to head's outline, bowed sideways by `bend` points."""
    pts = list(pts)
    if bend:
        (ax, ay), (bx, by) = pts[0], pts[-1]
        length = math.hypot(bx - ax, by - ay) or 1.0
        nx, ny = -(by - ay) / length * bend, (bx - ax) / length * bend
        if len(pts) == 2:
            pts.insert(1, ((ax + bx) / 2, (ay + by) / 2))
        pts = [pts[0]] + [(x + nx, y + ny) for x, y in pts[1:-1]] + [pts[-1]]
    pts[0] = _boundary(tail, pts[1])
    pts[-1] = _boundary(head, pts[-2])
    return pts


def _edge_svg(i: int, tail: str, head: str, pts: Route, label: str) -> str:
    (px, py), (hx, hy) = pts[-2], pts[-1]
    length = math.hypot(hx - px, hy - py) or 1.0
    ux, uy = (hx - px) / length, (hy - py) / length
    base = (hx - ux * _ARROW, hy - uy * _ARROW)
    line = pts[:-1] + [base]
    d = f"M{line[0][0]:.2f},{line[0][1]:.2f}"
    # Round each bend: straight to a segment's midpoint, then curve through the corner.
    for k in range(1, len(line) - 1):
        (cx, cy), (nx, ny) = line[k], line[k + 1]
        d += f" Q{cx:.2f},{cy:.2f} {(cx + nx) / 2:.2f},{(cy + ny) / 2:.2f}"
    d += f" L{base[0]:.2f},{base[1]:.2f}"
    wing = (-uy * 3.5, ux * 3.5)
    arrow = (
        f"{hx:.2f},{hy:.2f} {base[0] + wing[0]:.2f},{base[1] + wing[1]:.2f} "
        f"{base[0] - wing[0]:.2f},{base[1] - wing[1]:.2f}"
    )
    parts = [
        f'<g id="edge{i + 1}" class="edge">'
        f"<title>{xml_text(tail)}&#45;&gt;{xml_text(head)}</title>",
        f'<path d="{d}" fill="none" stroke="black"/>',
        f'<polygon points="{arrow}" fill="black" stroke="black"/>',
    ]
    if label:
        mx, my = pts[len(pts) // 2 - 1] if len(pts) > 2 else pts[0]
        nx, ny = pts[len(pts) // 2]
        parts.append(_text((mx + nx) / 2, (my + ny) / 2 - 3, label, anchor="middle"))
    parts.append("</g>")
    return "".join(parts)
