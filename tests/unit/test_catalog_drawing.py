"""The catalog's drawings: the lineage layout and the daily statistics chart (pure functions)."""

from __future__ import annotations

from featurelake.catalog.drawing import BOX_H, BOX_W, chart, layout
from featurelake.catalog.model import Lineage, LineageNode, StatPoint


def test_lineage_layout_puts_kinds_in_columns_without_overlap_and_joins_the_right_boxes() -> None:
    nodes = [LineageNode(id="s", kind="source", label="orders"), LineageNode(id="v", kind="view", label="v1"),
             *[LineageNode(id=f"f{i}", kind="feature", label=f"f{i}") for i in range(3)],
             LineageNode(id="d", kind="dag", label="dag"), LineageNode(id="r", kind="redis", label="redis"),
             LineageNode(id="t", kind="training_set", label="/" + "x" * 60)]  # fmt: skip
    graph = layout(Lineage(nodes=nodes, edges=[("s", "v"), ("v", "f0"), ("f2", "t"), ("d", "r"), ("v", "gone")]))
    boxes = {b.id: b for b in graph.boxes}
    assert boxes["s"].x < boxes["v"].x < boxes["f0"].x == boxes["d"].x < boxes["r"].x == boxes["t"].x
    spots = {(b.x, b.y) for b in graph.boxes}
    assert len(spots) == len(graph.boxes)  # no two boxes in one place
    assert len(boxes["t"].label) <= 28 and boxes["t"].label.startswith("…")
    assert len(graph.lines) == 4  # an edge to an unknown node is not drawn
    x1, y1, x2, y2 = graph.lines[0]
    assert (x1, y1) == (boxes["s"].x + BOX_W, boxes["s"].y + BOX_H // 2) and (x2, y2) == (
        boxes["v"].x,
        boxes["v"].y + BOX_H // 2,
    )
    assert all(b.x + BOX_W <= graph.width and b.y + BOX_H <= graph.height for b in graph.boxes)


def test_chart_scales_the_mean_band_and_null_share_and_skips_non_numeric_features() -> None:
    points = [StatPoint(day=f"2025-01-0{i + 1}", rows=10, null_rate=i / 4, mean=float(i), min=0, max=9, stddev=1.0)
              for i in range(3)]  # fmt: skip
    drawn = chart("spend", points, width=108, height=58)
    assert drawn is not None and (drawn.lo, drawn.hi) == (-1.0, 3.0)
    assert drawn.mean == "4.0,41.5 54.0,29.0 104.0,16.5"  # y of mean m: 54 - 50 * (m + 1) / 4
    assert drawn.nulls == "4.0,54.0 54.0,41.5 104.0,29.0"  # null share 0, 0.25, 0.5 on 0..1
    assert drawn.null_share == 0.5 and (drawn.first_day, drawn.last_day) == ("2025-01-01", "2025-01-03")
    text = [StatPoint(day="2025-01-01", rows=3, null_rate=0.0, mean=None, min="a", max="c", stddev=None)]
    assert chart("channel", text) is None and chart("nothing", []) is None
