"""Pixel classification helpers: legends, masks, colour features, models, class maps.

Everything here works on NumPy arrays, one image at a time, so a folder of 12-megapixel
photos never sits in memory at once. The node declarations are in ``nodes/pixels.py``.
"""
