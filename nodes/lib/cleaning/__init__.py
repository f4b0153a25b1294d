"""The algorithms of cleaning a collection: duplicates, likely-wrong labels, outliers, familiarity.

Plain functions of arrays (and, for duplicates, of image files); the nodes in
:mod:`nodes.cleaning` wrap them. Nearest neighbours come from :mod:`.neighbours`.
"""
