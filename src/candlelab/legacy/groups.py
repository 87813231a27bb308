"""A legacy file's table groups: what goes in one transaction, in the order written.

The parents (charts, annotation types, span label types) first, then each chart's
candles ("candles:<legacy chart id>"), the annotations and the spans.
"""

from __future__ import annotations

from candlelab.legacy.conversion import Converted

GROUPS = {
    "parents": ("charts", "annotation_types", "span_label_types"),
    "candles": ("candles",),  # one group per chart: "candles:<legacy chart id>"
    "annotations": ("annotations",),
    "spans": ("span_annotations",),
}
SIDE_GROUPS = ("annotations", "spans")  # written beside the candles, on a second connection
PARENTS = ("charts", "annotation_types", "span_label_types")


def table_groups(converted: Converted) -> list[str]:
    """Every group of this file, in the order they are written."""
    charts = converted.tables["charts"]["id"].to_list()
    return ["parents", *(f"candles:{chart}" for chart in charts), *SIDE_GROUPS]


def tables_of(group: str) -> tuple[str, ...]:
    return GROUPS[group.split(":", maxsplit=1)[0]]


def tables_in(groups: list[str]) -> list[str]:
    return list(dict.fromkeys(t for g in groups for t in tables_of(g)))


def chart_of(group: str) -> int | None:
    """The legacy chart id of a chart's candles group."""
    return int(group.split(":")[1]) if group.startswith("candles:") else None
