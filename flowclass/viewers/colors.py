"""One colour per group (cluster, label), the same in the grid, the map and the dendrogram."""

from __future__ import annotations

from typing import Iterable

# Tableau 20, darker shades first: distinct on white, and no red-only meaning here.
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
ABOVE_CUT = "#a3a3a3"  # neutral grey: no group colour is grey


def group_colors(groups: Iterable[str]) -> dict[str, str]:
    """A colour for each group, in the given order (cycling after 20)."""
    return {group: PALETTE[i % len(PALETTE)] for i, group in enumerate(groups)}
