"""Server-side drawings for the catalog's pages (no JavaScript, no CDN): the lineage graph laid
out in columns, and small per-feature charts of the daily statistics. Both return plain data
(boxes, lines, points) that the templates turn into escaped SVG."""

from __future__ import annotations

from dataclasses import dataclass

from featurelake.catalog.model import Lineage, StatPoint

COLUMNS = {"source": 0, "view": 1, "feature": 2, "dag": 2, "service": 3, "training_set": 3, "redis": 3}
BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 190, 30, 70, 12, 10


@dataclass(frozen=True)
class Box:
    id: str
    kind: str
    label: str
    x: int
    y: int


@dataclass(frozen=True)
class Graph:
    boxes: list[Box]
    lines: list[tuple[int, int, int, int]]  # x1, y1, x2, y2: right edge of one box to the left of another
    width: int
    height: int
    box_w: int = BOX_W
    box_h: int = BOX_H


def layout(lineage: Lineage) -> Graph:
    rows: dict[int, int] = {}
    boxes = {}
    for node in lineage.nodes:
        column = COLUMNS[node.kind]
        row = rows.get(column, 0)
        rows[column] = row + 1
        label = node.label if len(node.label) <= 28 else "…" + node.label[-27:]
        boxes[node.id] = Box(node.id, node.kind, label, PAD + column * (BOX_W + GAP_X), PAD + row * (BOX_H + GAP_Y))
    lines = [
        (boxes[a].x + BOX_W, boxes[a].y + BOX_H // 2, boxes[b].x, boxes[b].y + BOX_H // 2)
        for a, b in lineage.edges
        if a in boxes and b in boxes
    ]
    width = PAD * 2 + (max(COLUMNS[n.kind] for n in lineage.nodes) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max(rows.values()) * (BOX_H + GAP_Y) - GAP_Y
    return Graph(list(boxes.values()), lines, width, height)


@dataclass(frozen=True)
class Chart:
    feature: str
    width: int
    height: int
    mean: str  # an SVG polyline's points
    band: str  # polygon: mean - stddev .. mean + stddev
    lo: float
    hi: float
    first_day: str
    last_day: str
    null_share: float  # of the newest day
    nulls: str  # polyline of the null share per day, on a 0..1 scale


def chart(feature: str, points: list[StatPoint], width: int = 320, height: int = 80) -> Chart | None:
    """Mean per day with a ±1 stddev band, and the null share per day (0..1); None for
    non-numeric features or no days yet."""
    numeric = [p for p in points if p.mean is not None]
    if not numeric:
        return None
    lows = [p.mean - (p.stddev or 0.0) for p in numeric]  # type: ignore[operator]
    highs = [p.mean + (p.stddev or 0.0) for p in numeric]  # type: ignore[operator]
    lo, hi = min(lows), max(highs)
    span = (hi - lo) or 1.0

    def xy(i: int, value: float) -> str:
        x = 4 + (width - 8) * (i / max(1, len(numeric) - 1))
        y = height - 4 - (height - 8) * ((value - lo) / span)
        return f"{x:.1f},{y:.1f}"

    mean = " ".join(xy(i, p.mean) for i, p in enumerate(numeric))  # type: ignore[arg-type]
    step = (width - 8) / max(1, len(points) - 1)
    nulls = " ".join(f"{4 + step * i:.1f},{height - 4 - (height - 8) * p.null_rate:.1f}" for i, p in enumerate(points))
    band = " ".join([*(xy(i, v) for i, v in enumerate(highs)), *(xy(i, v) for i, v in reversed(list(enumerate(lows))))])
    first, last = numeric[0].day, numeric[-1].day
    return Chart(feature, width, height, mean, band, lo, hi, first, last, points[-1].null_rate, nulls)
