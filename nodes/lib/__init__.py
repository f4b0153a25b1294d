"""Helpers the node families share (decoding, hashing, safe file output); no nodes here."""
