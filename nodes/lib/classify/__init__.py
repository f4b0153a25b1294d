"""Classification helpers: estimators, model files, predictions, and label overrides."""
