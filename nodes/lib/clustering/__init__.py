"""Clustering helpers: distances in blocks, linkage of large sets, the tree's top, agreement."""
