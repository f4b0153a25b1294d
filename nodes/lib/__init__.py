"""Helpers the node families share, one subpackage per subject; no nodes here.

``images`` (sample images, what is known of a file), ``embedders`` (networks and the store of
their vectors), ``clustering``, ``classify``, ``pixels`` (pixel classification) and
``results`` (figures, export folder names). Reading and writing the user's files is
``flowclass.userfiles``.
"""
