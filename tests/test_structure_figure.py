"""The network structure figure: whole-word labels, layered rows, few crossings, no overlapping boxes."""

from __future__ import annotations

from itertools import combinations

import pytest

import fasciculation_dx as fdx
from fasciculation_dx.errors import FasciculationDxError
from fasciculation_dx.reporting.layered_layout import count_crossings, layered_layout, wrap_words

pytest.importorskip("matplotlib")

from fasciculation_dx.reporting.markdown import save_figure  # noqa: E402
from fasciculation_dx.reporting.model_card import LABEL_WIDTH, draw_structure, structure_layout  # noqa: E402


@pytest.fixture(scope="module")
def priors():
    return fdx.load_priors(fdx.shipped_priors_dir())


@pytest.fixture(scope="module")
def drawn(priors):
    ax = draw_structure(priors)
    ax.figure.canvas.draw()
    texts = {t.get_gid()[len("node:") :]: t for t in ax.texts if (t.get_gid() or "").startswith("node:")}
    return ax, texts


def _is_whole_words(line: str, words: list[str]) -> bool:
    parts = line.split(" ")
    return any(words[i : i + len(parts)] == parts for i in range(len(words) - len(parts) + 1))


@pytest.mark.parametrize(
    "text",
    ["axonal hyperexcitability", "tongue fasciculations", "fluoroquinolone or other listed drug", "a", ""],
)
def test_wrap_words_breaks_only_between_words(text):
    lines = wrap_words(text, 13)
    assert " ".join(lines) == text
    for line in lines:
        assert _is_whole_words(line, text.split(" ")), line
        assert len(line) <= 13 or " " not in line, line


def test_every_drawn_label_is_the_node_name_in_whole_words(priors, drawn):
    _, texts = drawn
    assert set(texts) == set(priors.nodes)
    for node, text in texts.items():
        name = node.replace("_", " ")
        lines = text.get_text().split("\n")
        assert " ".join(lines) == name, node
        for line in lines:
            assert _is_whole_words(line, name.split(" ")), (node, line)
            assert len(line) <= LABEL_WIDTH or " " not in line, (node, line)


def test_no_two_boxes_of_a_row_overlap(priors, drawn):
    ax, texts = drawn
    renderer = ax.figure.canvas.get_renderer()
    layout = structure_layout(priors)
    assert sorted(n for row in layout.rows for n in row) == sorted(priors.nodes)
    for row in layout.rows:
        boxes = {n: texts[n].get_bbox_patch().get_window_extent(renderer) for n in row}
        for a, b in combinations(row, 2):
            assert not boxes[a].overlaps(boxes[b]), (a, b)
        ys = {round(texts[n].get_position()[1], 6) for n in row}
        assert len(ys) == 1, row


def test_every_edge_runs_down_to_a_lower_row(priors):
    layout = structure_layout(priors)
    row_of = {n: r for r, row in enumerate(layout.rows) for n in row}
    layer_rank = {layer: i for i, layer in enumerate(("context", "trigger", "etiology", "mechanism", "finding"))}
    for r, row in enumerate(layout.rows):
        assert all(priors.nodes[n].layer == layout.row_layers[r] for n in row)
    assert [layer_rank[lay] for lay in layout.row_layers] == sorted(layer_rank[lay] for lay in layout.row_layers)
    for child, spec in priors.nodes.items():
        for parent in spec.parents:
            assert row_of[parent] < row_of[child], (parent, child)
    assert max(len(row) for row in layout.rows) <= 16


def test_layout_crosses_fewer_edges_than_alphabetical_order(priors):
    layout = structure_layout(priors)
    ours = count_crossings([points for _, _, points in layout.edges])
    naive = {}
    for r, row in enumerate(layout.rows):
        for i, n in enumerate(sorted(row)):
            naive[n] = ((i + 0.5) / len(row), -float(r))
    alphabetical = count_crossings([(naive[p], naive[c]) for c, s in priors.nodes.items() for p in s.parents])
    assert ours < alphabetical


def test_count_crossings_sees_a_crossing_and_ignores_shared_ends():
    assert count_crossings([[(0, 1), (1, 0)], [(1, 1), (0, 0)]]) == 1
    assert count_crossings([[(0, 1), (0, 0)], [(1, 1), (1, 0)]]) == 0
    assert count_crossings([[(0, 1), (0, 0)], [(0, 1), (1, 0)]]) == 0  # siblings
    assert count_crossings([[(0, 2), (0.5, 1), (1, 0)], [(1, 2), (0.5, 1.5), (0, 0)]]) == 1


def test_same_layer_edges_run_downward_and_long_rows_split():
    layer_of = {"a": "top", "b": "bottom", "c": "bottom", **{f"f{i}": "bottom" for i in range(5)}}
    parents = {"b": ["a"], "c": ["b"], **{f"f{i}": ["a"] for i in range(5)}}
    layout = layered_layout(layer_of, parents, {n: 10.0 for n in layer_of}, ("top", "bottom"), max_row=3)
    row_of = {n: r for r, row in enumerate(layout.rows) for n in row}
    assert row_of["a"] < row_of["b"] < row_of["c"]
    assert max(len(row) for row in layout.rows) <= 3
    for parent, child, points in layout.edges:
        assert len(points) == row_of[child] - row_of[parent] + 1
        assert [y for _, y in points] == sorted((y for _, y in points), reverse=True)


def test_bad_layouts_are_refused_with_a_clear_error():
    with pytest.raises(FasciculationDxError, match="unknown layer 'side'; valid layers are top"):
        layered_layout({"a": "side"}, {}, {"a": 1.0}, ("top",))
    with pytest.raises(FasciculationDxError, match="acyclic"):
        layered_layout({"a": "top", "b": "top"}, {"a": ["b"], "b": ["a"]}, {"a": 1.0, "b": 1.0}, ("top",))


def test_the_figure_is_byte_reproducible(priors, tmp_path):
    first = save_figure(draw_structure(priors).figure, tmp_path / "a" / "structure")
    second = save_figure(draw_structure(priors).figure, tmp_path / "b" / "structure")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
