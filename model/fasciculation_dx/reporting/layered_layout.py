"""A layered (Sugiyama-style) layout of a DAG whose nodes belong to ordered layers.

Each layer is a band of one or more rows, top to bottom in the order given. Within a band a node
sits below its parents from the same band (longest path), and a row with more than ``max_row``
nodes is split into rows of even length, nodes whose parents are lowest going first, so edges run
downward. An edge spanning several rows passes through one dummy point per row between. The
order within each row comes from barycentre sweeps down and up (the order with the fewest
crossings between adjacent rows is kept), and each row's x coordinates are the closest, in least
squares, to the mean of the node's neighbours that keep the node boxes ``node_gap`` apart.
The long edges of a node named in ``hubs`` (one with many children) are drawn straight instead,
so they do not fill the rows between with dummy points.

Everything is pure Python and deterministic: ties are broken by name.
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from ..errors import FasciculationDxError

__all__ = ["Layout", "count_crossings", "layered_layout", "wrap_words"]

Point = tuple[float, float]


@dataclass(frozen=True)
class Layout:
    """Where each node and edge goes.

    Attributes
    ----------
    rows
        Real nodes of each row, left to right, top row first.
    row_layers
        The layer each row belongs to.
    pos
        ``(x, y)`` of each real node; y decreases downward, rows ``row_gap`` apart.
    edges
        ``(parent, child, points)`` for every edge, the points running from parent to child
        through one dummy point per row crossed.
    """

    rows: tuple[tuple[str, ...], ...]
    row_layers: tuple[str, ...]
    pos: Mapping[str, Point]
    edges: tuple[tuple[str, str, tuple[Point, ...]], ...]


def wrap_words(text: str, width: int) -> list[str]:
    """Wrap ``text`` into lines of at most ``width`` characters, breaking only between words.

    A word longer than ``width`` stays whole on a line of its own.

    Parameters
    ----------
    text
        Words separated by spaces.
    width
        Preferred maximum line length in characters.

    Returns
    -------
    list of str
    """
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def _rows(
    layer_of: Mapping[str, str], parents: Mapping[str, Sequence[str]], layers: Sequence[str], max_row: int
) -> tuple[list[list[str]], list[str]]:
    """Assign every node to a row: layer bands top-down, longest path within a band, long rows split."""
    unknown = sorted({layer for layer in layer_of.values()} - set(layers))
    if unknown:
        raise FasciculationDxError(f"unknown layer {unknown[0]!r}; valid layers are {', '.join(layers)}")
    depth: dict[str, int] = {}

    def sub(node: str, trail: tuple[str, ...] = ()) -> int:
        if node not in depth:
            if node in trail:
                raise FasciculationDxError("the network must be acyclic to be drawn in layers")
            same = [p for p in parents.get(node, ()) if layer_of.get(p) == layer_of[node]]
            depth[node] = 1 + max((sub(p, (*trail, node)) for p in same), default=-1)
        return depth[node]

    rows: list[list[str]] = []
    row_layers: list[str] = []
    row_of: dict[str, int] = {}
    for layer in layers:
        members = sorted(n for n in layer_of if layer_of[n] == layer)
        for d in range(1 + max((sub(n) for n in members), default=-1)):
            level = [n for n in members if depth[n] == d]

            def lowest_parent(n: str) -> int:
                return max((row_of[p] for p in parents.get(n, ()) if p in row_of), default=-1)

            level.sort(key=lambda n: (-lowest_parent(n), n))
            count = -(-len(level) // max_row)
            size = -(-len(level) // count)
            for i in range(0, len(level), size):
                for n in level[i : i + size]:
                    row_of[n] = len(rows)
                rows.append(level[i : i + size])
                row_layers.append(layer)
    return rows, row_layers


def _bilayer_crossings(upper: Sequence[str], lower: Sequence[str], links: Mapping[str, Sequence[str]]) -> int:
    """Count crossings between two adjacent rows (``links`` maps an upper node to its lower neighbours)."""
    rank = {n: i for i, n in enumerate(lower)}
    ends = sorted((i, rank[c]) for i, n in enumerate(upper) for c in links.get(n, ()))
    return sum(1 for (a, b), (c, d) in combinations(ends, 2) if a != c and (b - d) * (a - c) < 0)


def _barycentre_order(
    row: Sequence[str], neighbour_row: Sequence[str], links: Mapping[str, Sequence[str]]
) -> list[str]:
    """Sort ``row`` by the mean position of each node's neighbours in ``neighbour_row``; unlinked ones stay."""
    index = {n: i for i, n in enumerate(neighbour_row)}
    current = {n: i for i, n in enumerate(row)}

    def key(n: str) -> tuple[float, int]:
        linked = [index[m] for m in links[n] if m in index]
        return (sum(linked) / len(linked) if linked else float(current[n]), current[n])

    return sorted(row, key=key)


def _isotonic(targets: list[float], gaps: list[float]) -> list[float]:
    """Return x closest to ``targets`` in least squares with ``x[i+1] - x[i] >= gaps[i]`` (pool adjacent violators)."""
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g)
    blocks: list[list[float]] = []  # [mean, count]
    for t, o in zip(targets, offsets):
        blocks.append([t - o, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    ys = [m for m, c in blocks for _ in range(int(c))]
    return [y + o for y, o in zip(ys, offsets)]


def layered_layout(
    layer_of: Mapping[str, str],
    parents: Mapping[str, Sequence[str]],
    widths: Mapping[str, float],
    layers: Sequence[str],
    *,
    max_row: int = 16,
    row_gap: float = 60.0,
    node_gap: float = 8.0,
    sweeps: int = 12,
    hubs: Collection[str] = (),
) -> Layout:
    """Lay out a DAG in layered rows with few edge crossings and no overlapping node boxes.

    Parameters
    ----------
    layer_of
        The layer of every node.
    parents
        The parents of each node (edges run parent to child).
    widths
        The drawn width of each node's box, in the units of the returned coordinates.
    layers
        The layers, top first.
    max_row
        Most nodes in one row; a longer row is split into rows of even length.
    row_gap
        Vertical distance between rows.
    node_gap
        Least horizontal space between two boxes of a row (half of it next to a dummy point).
    sweeps
        Barycentre passes, alternately down and up.
    hubs
        Nodes whose edges to rows further down than the next are drawn straight, without dummy
        points, and take no part in ordering or placing those children (for a node with many
        children, whose routed edges would fill the rows between).

    Returns
    -------
    Layout
    """
    if max_row < 1:
        raise FasciculationDxError(f"max_row must be at least 1. Got {max_row}")
    rows, row_layers = _rows(layer_of, parents, layers, max_row)
    row_of = {n: r for r, row in enumerate(rows) for n in row}
    # dummies: one per row crossed by an edge that runs down more than one row
    down: dict[str, list[str]] = {n: [] for n in row_of}
    up: dict[str, list[str]] = {n: [] for n in row_of}
    chains: list[tuple[str, str, list[str]]] = []
    for child in sorted(row_of):
        for parent in parents.get(child, ()):
            chain = [parent]
            if row_of[parent] == row_of[child] - 1 or (row_of[parent] < row_of[child] and parent not in hubs):
                for r in range(row_of[parent] + 1, row_of[child]):
                    dummy = f"{parent}->{child}@{r}"
                    rows[r].append(dummy)
                    row_of[dummy] = r
                    down[dummy], up[dummy] = [], []
                    chain.append(dummy)
                chain.append(child)
                for a, b in zip(chain, chain[1:]):
                    down[a].append(b)
                    up[b].append(a)
            else:
                chain.append(child)  # drawn straight, ignored by the ordering and the placing
            chains.append((parent, child, chain))
    real = set(layer_of)
    for r, row in enumerate(rows):  # start with the real nodes by name and long edges down the middle
        named = sorted(n for n in row if n in real)
        middle = len(named) // 2
        rows[r] = named[:middle] + sorted(n for n in row if n not in real) + named[middle:]

    def total(order: list[list[str]]) -> int:
        return sum(_bilayer_crossings(a, b, down) for a, b in zip(order, order[1:]))

    best, best_count = [list(r) for r in rows], total(rows)
    for sweep in range(sweeps):
        sequence = range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1)
        for r in sequence:
            neighbour_row = rows[r - 1] if sweep % 2 == 0 else rows[r + 1]
            rows[r] = _barycentre_order(rows[r], neighbour_row, up if sweep % 2 == 0 else down)
        count = total(rows)
        if count < best_count:
            best, best_count = [list(r) for r in rows], count
    rows = best

    def width(n: str) -> float:
        return float(widths[n]) if n in real else 0.0

    def gap(a: str, b: str) -> float:
        spacing = node_gap if a in real and b in real else node_gap / 2
        return (width(a) + width(b)) / 2 + spacing

    x: dict[str, float] = {}
    for row in rows:
        xs = _isotonic([0.0] * len(row), [gap(a, b) for a, b in zip(row, row[1:])])
        x.update(zip(row, xs))  # centred on 0
    for sweep in range(2 * sweeps):
        direction = ("down", "up", "both")[sweep % 3]
        for row in rows:
            targets = []
            for n in row:
                linked = {"down": up[n], "up": down[n], "both": up[n] + down[n]}[direction]
                targets.append(sum(x[m] for m in linked) / len(linked) if linked else x[n])
            x.update(zip(row, _isotonic(targets, [gap(a, b) for a, b in zip(row, row[1:])])))
    shift = min(x[n] - width(n) / 2 for n in x)
    y = {n: -row_gap * r for n, r in row_of.items()}
    pos = {n: (x[n] - shift, y[n]) for n in x}
    return Layout(
        rows=tuple(tuple(n for n in row if n in real) for row in rows),
        row_layers=tuple(row_layers),
        pos={n: pos[n] for n in sorted(real)},
        edges=tuple((p, c, tuple(pos[n] for n in chain)) for p, c, chain in chains),
    )


def _proper_cross(p: Point, q: Point, r: Point, s: Point) -> bool:
    def orient(a: Point, b: Point, c: Point) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    d1, d2, d3, d4 = orient(p, q, r), orient(p, q, s), orient(r, s, p), orient(r, s, q)
    return d1 * d2 < 0 and d3 * d4 < 0


def count_crossings(polylines: Sequence[Sequence[Point]]) -> int:
    """Count the pairs of drawn edges that cross, each edge a polyline.

    Two edges that share an end point (siblings, or a chain) do not cross there; two edges that
    cross more than once count once.

    Parameters
    ----------
    polylines
        Each edge's points from parent to child.

    Returns
    -------
    int
    """
    segments = [list(zip(line, line[1:])) for line in polylines]
    crossings = 0
    for a, b in combinations(range(len(segments)), 2):
        if any(_proper_cross(p, q, r, s) for p, q in segments[a] for r, s in segments[b]):
            crossings += 1
    return crossings
