"""The names of the reports the node families save at the top of a run's output folder
(:mod:`flowclass.reports`), in one place: Export to Folders numbers a label folder of such
a name (``duplicates.csv (2)``), as it does one named ``run.json``, so that exporting into
the output folder itself never takes a report's name. Every name a node's ``reports`` may
return, whether or not this workflow draws it: the names must be known before the report's
node has run (and a label folder's name may not hang on which nodes a workflow holds, which
its cache key does not see).
"""

from __future__ import annotations

DUPLICATES = "duplicates.csv"
LABEL_ISSUES = "label_issues.csv"
OUTLIERS = "outliers.csv"
EVALUATION = "evaluation.csv"
CONFUSION_CSV = "confusion_matrix.csv"
CONFUSION_PNG = "confusion_matrix.png"
DENDROGRAM = "dendrogram.png"
MAP = "map.png"
AREAS = "areas.png"

REPORT_NAMES = (DUPLICATES, LABEL_ISSUES, OUTLIERS, EVALUATION, CONFUSION_CSV, CONFUSION_PNG, DENDROGRAM,
                MAP, AREAS)
