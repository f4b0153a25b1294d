"""Viewers of the node families (NiceGUI): imported by the canvas only, never by a run."""
