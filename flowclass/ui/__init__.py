"""Browser front end of FlowClass (NiceGUI).

Kept import-free so that ``import flowclass.ui`` stays cheap; import
:mod:`flowclass.ui.canvas` for the canvas element.
"""
