"""The values that flow between image nodes, and the port data types that carry them.

Images travel by reference (absolute paths plus content hashes), never as pixels, so a
10,000-image folder costs kilobytes between nodes. Every value class is a dataclass
registered with the safe codec, so results cache to disk without pickle, and each can
become a table (``to_table``), which is how a "table" input accepts them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from flowclass.codec import serializable
from flowclass.datatypes import DataType

if TYPE_CHECKING:  # pandas is imported where tables are made, to keep start-up fast
    import pandas as pd


def true_false(values: np.ndarray) -> list[str]:
    """Booleans as every table writes them: ``true`` / ``false`` (not pandas' True/False)."""
    return ["true" if v else "false" for v in np.asarray(values, dtype=bool)]


def table_column(values: np.ndarray) -> Any:
    """A per-image column as tables write it: booleans as ``true`` / ``false``."""
    values = np.asarray(values)
    return true_false(values) if values.dtype == bool else values


@serializable("flowclass.ImageSet")
@dataclass(frozen=True, eq=False)
class ImageSet:
    """A list of images: where they are, their labels (folder names) and content hashes."""

    paths: np.ndarray  # absolute paths (str)
    labels: np.ndarray  # class label per image, "" when unlabelled (str)
    hashes: np.ndarray  # sha256 of the file bytes (str)
    widths: np.ndarray  # after EXIF orientation (int)
    heights: np.ndarray
    root: str = ""  # the folder they were imported from

    def __post_init__(self) -> None:
        n = len(self.paths)
        for name in ("labels", "hashes", "widths", "heights"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"ImageSet.{name} has {len(getattr(self, name))} entries, paths {n}")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def relpaths(self) -> list[str]:
        if not self.root:
            return [os.path.basename(p) for p in self.paths]
        return [os.path.relpath(p, self.root) for p in self.paths]

    def relpath(self, index: int) -> str:
        """One image's path as :attr:`relpaths` gives it, without computing them all (0.7 s
        for 100,000 images: too slow for each click of a viewer)."""
        path = str(self.paths[index])
        return os.path.relpath(path, self.root) if self.root else os.path.basename(path)

    def subset(self, indices: Any) -> "ImageSet":
        idx = np.asarray(indices, dtype=np.int64)
        return ImageSet(self.paths[idx], self.labels[idx], self.hashes[idx], self.widths[idx],
                        self.heights[idx], self.root)

    def with_labels(self, labels: Any) -> "ImageSet":
        return replace(self, labels=np.asarray(labels, dtype=str))

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame({"path": self.paths.astype(str), "relpath": self.relpaths,
                             "folder_label": self.labels.astype(str), "width": self.widths,
                             "height": self.heights})

    @staticmethod
    def empty(root: str = "") -> "ImageSet":
        text = np.array([], dtype=str)
        ints = np.array([], dtype=np.int32)
        return ImageSet(text, text, text, ints, ints, root)


@serializable("flowclass.Embeddings")
@dataclass(frozen=True, eq=False)
class Embeddings:
    """One vector per image, and exactly how they were made (so models can check it)."""

    images: ImageSet
    vectors: np.ndarray  # (n, d) float32
    embedder: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        table = self.images.to_table()
        columns = pd.DataFrame(self.vectors, columns=[f"e{i}" for i in range(self.vectors.shape[1])])
        return pd.concat([table, columns], axis=1)


@serializable("flowclass.Distances")
@dataclass(frozen=True, eq=False)
class Distances:
    """Pairwise distances between images, computed when asked for instead of stored.

    n images have n(n-1)/2 distances: 40 GB for 100,000 of them. So this value holds the
    vectors the distances come from and how to compare them; exact clustering of a few
    thousand images asks for the condensed matrix, while large collections are clustered
    from the vectors themselves (see nodes/clustering.py).
    """

    images: ImageSet
    vectors: np.ndarray  # (n, d) embeddings, as they came from Embed
    metric: str = "cosine"  # cosine, euclidean or manhattan
    centre: bool = True  # subtract the mean vector before comparing

    def __len__(self) -> int:
        return len(self.images)

    def prepared(self, dtype: Any = "float64") -> np.ndarray:
        """The vectors as they are compared: centred if asked (a new array)."""
        vectors = np.array(self.vectors, dtype=dtype)
        if self.centre:
            vectors -= vectors.mean(axis=0, keepdims=True, dtype=np.float64).astype(dtype)
        return vectors

    def condensed(self, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """All n(n-1)/2 distances (float64), in SciPy's condensed order."""
        from .lib.clustering.condensed import pairwise_condensed

        return pairwise_condensed(self.prepared(), self.metric,
                                  progress=progress or (lambda done, total: None))

    def square(self) -> np.ndarray:
        from scipy.spatial.distance import squareform

        return squareform(self.condensed(), checks=False)

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        if len(self) > MAX_TABLE_IMAGES:
            raise ValueError(f"a table of all distances between {len(self):,} images would have "
                             f"{len(self) ** 2:,} cells; at most {MAX_TABLE_IMAGES:,} images can "
                             "be shown as a distance table")
        names = self.images.relpaths
        return pd.DataFrame(self.square(), index=names, columns=names).reset_index(names="image")


MAX_TABLE_IMAGES = 5_000  # a 5,000 x 5,000 table is 200 MB


@serializable("flowclass.Labelling")
@dataclass(frozen=True, eq=False)
class Labelling:
    """A label for every image: clusters, or a classifier's predictions.

    In tables every per-image value has one name everywhere: ``folder_label`` (the truth,
    from subfolders or a label file), ``cluster`` or ``prediction`` (this assignment),
    ``score`` (a cluster's silhouette) or ``confidence`` (a prediction's), and
    ``top1``..``topK`` with ``top1_score``..``topK_score``.

    ``scores`` says how sure the assignment is (silhouette for clusters, confidence for
    predictions; NaN when there is none); ``columns`` holds extra per-image columns.
    """

    images: ImageSet
    labels: np.ndarray  # str
    scores: np.ndarray  # float
    kind: str = "cluster"  # "cluster" or "prediction": the name of the table column
    classes: tuple[str, ...] = ()
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def counts(self) -> dict[str, int]:
        names, counts = np.unique(self.labels, return_counts=True)
        order = list(self.classes) or list(names)
        found = dict(zip(names.tolist(), counts.tolist()))
        return {name: found.get(name, 0) for name in order}

    @property
    def score_name(self) -> str:
        """What the score is called in tables: a prediction's is its confidence (as in Lobe)."""
        return "confidence" if self.kind == "prediction" else "score"

    def as_images(self) -> ImageSet:
        """The images, labelled by this assignment (e.g. clusters as training labels)."""
        return self.images.with_labels(self.labels)

    def to_table(self) -> "pd.DataFrame":
        table = self.images.to_table()
        table[self.kind] = self.labels.astype(str)
        table[self.score_name] = self.scores
        for name, values in self.columns.items():
            table[name] = table_column(values)
        return table


@serializable("flowclass.Dendrogram")
@dataclass(frozen=True, eq=False)
class Dendrogram:
    """A hierarchical clustering tree (SciPy linkage matrix) and where it was cut."""

    images: ImageSet
    linkage: np.ndarray  # (n - 1, 4)
    method: str
    cut_height: float
    labels: np.ndarray  # the cluster of each image after the cut
    algorithm: str = "exact"  # or "nearest_neighbours" (see nodes/clustering.py)

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(self.linkage, columns=["left", "right", "height", "size"])


def _to_table(value: Any) -> "pd.DataFrame":
    if hasattr(value, "to_table"):
        return value.to_table()
    return value  # already a DataFrame


IMAGES_COLOR = "#4e79a7"
IMAGES = DataType("images", "Images", IMAGES_COLOR,
                  "Image files with their labels (from subfolders) and content hashes.",
                  accepts=("labels",), convert=lambda v: v.as_images(), tabular=True)
EMBEDDINGS = DataType("embeddings", "Embeddings", "#f28e2b",
                      "One feature vector per image, with the spec of the embedder.", tabular=True)
DISTANCES = DataType("distances", "Distances", "#e15759", "Pairwise distances between images.",
                     tabular=True)
LABELS = DataType("labels", "Labelled images", "#59a14f",
                  "A label per image: clusters or predictions, with a score.", tabular=True)
DENDROGRAM = DataType("dendrogram", "Dendrogram", "#76b7b2", "A hierarchical clustering tree.",
                      tabular=True)
TABLE = DataType("table", "Table", "#9c755f", "Rows and columns; takes any value that has a "
                 "table form.", accepts_tabular=True, convert=_to_table)
