"""The values of cleaning a collection: duplicate groups, label issues, outliers.

Each holds the whole collection's :class:`~nodes.datatypes.ImageSet` plus per-image
arrays, so a viewer can show any image of it, and each becomes the table that a headless
run writes (``duplicates.csv``, ``label_issues.csv``, ``outliers.csv``) with ``path`` as
in every other table: the image's absolute path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from flowclass.codec import serializable
from flowclass.datatypes import DataType

from .datatypes import ImageSet, true_false

if TYPE_CHECKING:  # pandas is imported where tables are made, so cached runs start fast
    import pandas as pd


@serializable("flowclass.DuplicateGroups")
@dataclass(frozen=True, eq=False)
class DuplicateGroups:
    """The images that have a copy, grouped; one image of each group is kept.

    ``index`` points into ``images`` (the whole collection); rows are sorted by group.
    """

    images: ImageSet
    index: np.ndarray  # int
    group: np.ndarray  # int, 1..groups
    kind: np.ndarray  # str: "exact" or "near"
    keep: np.ndarray  # bool: one per group

    def __len__(self) -> int:
        return len(self.index)

    @property
    def groups(self) -> int:
        return int(self.group.max()) if len(self.group) else 0

    def dropped(self) -> np.ndarray:
        """Indices (into ``images``) of the copies not kept."""
        return self.index[~self.keep]

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame({"group": self.group, "path": self.images.paths[self.index].astype(str),
                             "kind": self.kind.astype(str), "keep": true_false(self.keep)})


@serializable("flowclass.LabelIssues")
@dataclass(frozen=True, eq=False)
class LabelIssues:
    """Every labelled image scored by how likely its label is wrong, most suspect first."""

    images: ImageSet  # the labelled images, in ranking order; labels as given
    suggested: np.ndarray  # str: the label the collection suggests
    score: np.ndarray  # 0..1, higher: more likely wrong
    flagged: np.ndarray  # bool
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.images)

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame({"path": self.images.paths.astype(str),
                             "label": self.images.labels.astype(str),
                             "suggested": self.suggested.astype(str), "score": self.score,
                             "flagged": true_false(self.flagged)})


@serializable("flowclass.Outliers")
@dataclass(frozen=True, eq=False)
class OutlierScores:
    """Every image scored by how unlike the rest of the collection it is."""

    images: ImageSet
    score: np.ndarray  # 0..1: 0 typical, 0.5 at the flag threshold
    flagged: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.images)

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame({"path": self.images.paths.astype(str), "score": self.score,
                             "flagged": true_false(self.flagged)})


DUPLICATES = DataType("duplicates", "Duplicates", "#edc948",
                      "Groups of exact and near copies, with the image kept of each.", tabular=True)
LABEL_ISSUES = DataType("label_issues", "Label issues", "#af7aa1",
                        "Labelled images ranked by how likely their label is wrong, with the "
                        "suggested label.", tabular=True)
OUTLIERS = DataType("outliers", "Outliers", "#bab0ac",
                    "Images scored by how unlike the rest of the collection they are.", tabular=True)
