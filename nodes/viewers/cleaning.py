"""Viewers of the cleaning values: duplicate groups, label issues, outliers.

Each value is shown as its table (the same as the headless run's CSV) here; viewers that
show the images (groups side by side, the label-issue queue) register beside these for
the same data types with a lower ``order``, so they come first.
"""

from __future__ import annotations

from flowclass.viewers import viewer
from flowclass.viewers.tables import show_as_table

VIEWERS = [viewer(data_type, "Table", order=90)(show_as_table)
           for data_type in ("duplicates", "label_issues", "outliers")]
