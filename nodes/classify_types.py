"""The values of supervised classification: a trained classifier and its evaluation.

Predictions themselves are :class:`~nodes.datatypes.Labelling` values (kind
"prediction", score = confidence), so Export to Folders and Save Table take them as
they take clusters. Both classes here are registered with the safe codec: a classifier
travels as skops bytes plus JSON, never as a pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from flowclass.codec import serializable
from flowclass.datatypes import DataType

from .datatypes import Labelling
from .lib.classify.estimators import FAMILIES, MODEL_TITLES, class_scores, describe_spec, load_estimator
from .lib.cleaning.familiarity import Familiarity

if TYPE_CHECKING:  # pandas is imported where tables are made, so cached runs start fast
    import pandas as pd

MODEL_FORMAT = 1


@serializable("flowclass.Classifier")
@dataclass(frozen=True, eq=False)
class Classifier:
    """A trained classifier, its class names and exactly how its inputs were embedded."""

    estimator: np.ndarray  # skops bytes (uint8), see nodes.lib.classify.estimators
    classes: tuple[str, ...]
    embedder: dict[str, Any]  # the Embeddings.embedder spec it was trained on
    model: str  # one of nodes.lib.classify.estimators.MODELS
    settings: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  # counts, validation, accuracy
    format: int = MODEL_FORMAT
    # how new images compare with the training images (Predict's familiarity); None in
    # models trained before FlowClass kept it
    familiarity: Familiarity | None = None

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """Per-class probabilities of each vector, columns in the order of ``classes``."""
        n_features = np.shape(vectors)[1] if np.ndim(vectors) == 2 else None
        return class_scores(load_estimator(self.estimator, FAMILIES[self.model], n_features), vectors, self.classes)

    @property
    def title(self) -> str:
        return f"{MODEL_TITLES.get(self.model, self.model)} on {describe_spec(self.embedder)}"

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        counts = self.training.get("class_counts", {})
        return pd.DataFrame({"class": list(self.classes),
                             "training_images": [counts.get(c, 0) for c in self.classes]})


@serializable("flowclass.Evaluation")
@dataclass(frozen=True, eq=False)
class Evaluation:
    """How predictions compare with the images' true labels.

    ``confusion[i, j]`` counts images of true class ``classes[i]`` predicted as
    ``predicted_classes[j]`` (the classes, plus "uncertain" when some predictions are).
    """

    predictions: Labelling  # images carry the true labels
    classes: tuple[str, ...]
    predicted_classes: tuple[str, ...]
    confusion: np.ndarray  # int, (len(classes), len(predicted_classes))
    accuracy: float
    balanced_accuracy: float
    precision: np.ndarray  # per class, in the order of ``classes``
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    fold_accuracies: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.predictions)

    def cell(self, true: str, predicted: str) -> np.ndarray:
        """Indices (into ``predictions``) of the images of one confusion-matrix cell."""
        return np.flatnonzero((self.predictions.images.labels == true)
                              & (self.predictions.labels == predicted))

    def wrong(self) -> np.ndarray:
        return np.flatnonzero(self.predictions.images.labels != self.predictions.labels)

    def summary(self) -> dict[str, Any]:
        out = {"images": len(self), "accuracy": self.accuracy,
               "balanced_accuracy": self.balanced_accuracy, "misclassified": int(len(self.wrong()))}
        if len(self.fold_accuracies):
            out["fold_accuracies"] = [float(a) for a in self.fold_accuracies]
        return out

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame({"class": list(self.classes), "images": self.support,
                             "precision": self.precision, "recall": self.recall, "f1": self.f1})

    def report_table(self) -> "pd.DataFrame":
        """Per-class precision/recall/F1, then one row for all classes: accuracy, balanced
        accuracy and the macro averages (as scikit-learn's classification report)."""
        import pandas as pd

        table = self.to_table()
        table["accuracy"] = table["balanced_accuracy"] = np.nan
        overall = {"class": "(all)", "images": int(self.support.sum()),
                   "precision": float(np.mean(self.precision)), "recall": float(np.mean(self.recall)),
                   "f1": float(np.mean(self.f1)), "accuracy": self.accuracy,
                   "balanced_accuracy": self.balanced_accuracy}
        return pd.concat([table, pd.DataFrame([overall])], ignore_index=True)

    def confusion_table(self) -> "pd.DataFrame":
        import pandas as pd

        table = pd.DataFrame(self.confusion, columns=list(self.predicted_classes))
        table.insert(0, "true \\ predicted", list(self.classes))
        return table


MODEL = DataType("classifier", "Classifier", "#b07aa1",
                 "A trained classifier with its class names and embedder spec.", tabular=True)
EVALUATION = DataType("evaluation", "Evaluation", "#ff9da7",
                      "Accuracy, per-class scores, confusion matrix and misclassified images.",
                      tabular=True)
