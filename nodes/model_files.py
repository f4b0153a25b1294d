"""Save Model and Load Model: classifiers as files to share, that load without running code.

The file format and its checks are in :mod:`nodes.lib.classify.model_format`. Save Model writes only
through :func:`~flowclass.userfiles.owned_folder.owned_folder` (a file FlowClass did not write is
never replaced); Load Model refuses anything but an intact FlowClass classifier.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.fsutil import file_stamp
from flowclass.node import Input, Output, node
from flowclass.params import Path as PathParam
from flowclass.userfiles.owned_folder import owned_folder

from .classify_types import MODEL, Classifier
from .datatypes import TABLE
from .lib.classify.estimators import describe_spec
from .lib.classify import model_format
from .lib.classify.model_format import EXTENSION, ModelFileError, model_bytes, read_model_file


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@node(
    type="save_model", title="Save Model", category="Supervised",
    inputs=[Input("model", MODEL)],
    outputs=[Output("saved", TABLE, help="The file written, its checksum and what it holds.")],
    params=[PathParam(name="path", default=f"classifier{EXTENSION}", target="file", role="output",
                      extensions=(EXTENSION,),
                      help="Model file to write (relative: inside the run's output folder). An "
                           "existing file FlowClass did not write is never replaced.")],
    writes_files=True,
)
def save_model(ctx: RunContext, *, model: Classifier, path):
    """Write the classifier, its labels and its embedder spec to a file others can load."""
    target = Path(path)
    data = model_bytes(model)
    with owned_folder(target.parent, ctx, field="path") as owned:
        try:
            owned.write_file(target.name, lambda tmp: tmp.write_bytes(data))
        except FileExistsError as exc:
            raise NodeError(str(exc), field="path", hint="choose another file name") from None
    ctx.wrote(target)
    import pandas as pd

    return {"saved": pd.DataFrame({"path": [str(target)], "sha256": [_sha256(data)],
                                   "bytes": [len(data)], "classes": [", ".join(model.classes)],
                                   "embedder": [describe_spec(model.embedder)]})}


def _model_fingerprint(ctx: RunContext, params: Mapping[str, Any]) -> str:
    """The file's content hash, read in chunks; a file too large to load is known by its stamp."""
    path = Path(params["file"])
    if not path.is_file():
        return "absent"
    if path.stat().st_size > model_format.LIMITS.max_bytes:
        return f"too large:{file_stamp(path)}"
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@node(
    type="load_model", title="Load Model", category="Supervised",
    outputs=[Output("model", MODEL)],
    params=[PathParam(name="file", default="", target="file", role="input", extensions=(EXTENSION,), optional=True,
                      help="A model file written by Save Model (relative: next to the workflow).")],
    fingerprint=_model_fingerprint,
)
def load_model(ctx: RunContext, *, file):
    """Read a saved classifier; files that are not exactly that are refused, never run."""
    if not file:
        raise NodeError("no model file given", field="file", hint=f"choose a {EXTENSION} file")
    path = Path(file)
    if not path.is_file():
        raise NodeError(f"model file not found: {path}", field="file")
    try:
        model = read_model_file(path)
    except ModelFileError as exc:
        raise NodeError(str(exc), field="file") from None
    ctx.record("model", {"classes": list(model.classes), "embedder": model.embedder})
    return {"model": model}


NODES = [save_model, load_model]
VIEWERS = ["nodes.viewers.classification"]  # the classifier a model file holds
