"""Toy node types for testing the engine without images (loaded as a plugin folder)."""

from __future__ import annotations

import os
from pathlib import Path

from flowclass.datatypes import DataType
from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Choice, Float, Int, Path as PathParam, Text
from flowclass.viewers import viewer

NUMBER = DataType("toy_number", "Number", "#111111")
WORDS = DataType("toy_words", "Words", "#222222")


def _log(ctx, name: str) -> None:
    """Append to a call log, so tests can count how often a node really ran."""
    with open(ctx.store_dir("toy") / "calls.log", "a") as log:
        log.write(f"{name}\n")


@node(type="toy.number", title="Number", category="Toy", outputs=[Output("number", NUMBER)],
      params=[Int(name="value", default=1, min=-1000, max=1000)])
def number(ctx, *, value):
    _log(ctx, ctx.node_id)
    return {"number": value}


@node(type="toy.add", title="Add", category="Toy",
      inputs=[Input("a", NUMBER), Input("b", NUMBER, optional=True)],
      outputs=[Output("sum", NUMBER)],
      params=[Float(name="scale", default=1.0, min=0.0, max=10.0)])
def add(ctx, *, a, b, scale):
    _log(ctx, ctx.node_id)
    return {"sum": (a + (b or 0)) * scale}


@node(type="toy.describe", title="Describe", category="Toy", inputs=[Input("number", NUMBER)],
      outputs=[Output("words", WORDS)], params=[Choice(name="style", default="plain",
                                                       choices=("plain", "loud"))])
def describe(ctx, *, number, style):
    _log(ctx, ctx.node_id)
    text = f"the number is {number}"
    return {"words": text.upper() if style == "loud" else text}


def _file_fingerprint(ctx, params):
    st = os.stat(params["path"])
    return f"{st.st_size}:{st.st_mtime_ns}"


@node(type="toy.read", title="Read File", category="Toy", outputs=[Output("words", WORDS)],
      params=[PathParam(name="path", default="", target="file", role="input", optional=True)],
      fingerprint=_file_fingerprint)
def read(ctx, *, path):
    _log(ctx, ctx.node_id)
    return {"words": Path(path).read_text()}


@node(type="toy.fail", title="Fail", category="Toy", inputs=[Input("number", NUMBER)],
      outputs=[Output("number", NUMBER)], params=[Text(name="why", default="it had to")])
def fail(ctx, *, number, why):
    raise NodeError(f"failed because {why}", field="why", hint="change 'why'")


@node(type="toy.crash", title="Crash", category="Toy", inputs=[Input("number", NUMBER)],
      outputs=[Output("number", NUMBER)])
def crash(ctx, *, number):
    return {"number": number / 0}


@node(type="toy.write", title="Write", category="Toy", inputs=[Input("words", WORDS)],
      outputs=[Output("words", WORDS)],
      params=[PathParam(name="path", default="out.txt", target="file", role="output")],
      writes_files=True)
def write(ctx, *, words, path):
    _log(ctx, ctx.node_id)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(words)
    ctx.wrote(path)
    return {"words": path}


@node(type="toy.wait", title="Wait", category="Toy", inputs=[Input("number", NUMBER)],
      outputs=[Output("number", NUMBER)], params=[Int(name="steps", default=1000, min=1)])
def wait(ctx, *, number, steps):
    import time

    for i in range(steps):
        ctx.progress(i, steps)
        time.sleep(0.001)
    return {"number": number}


def _v1_to_v2(params):
    params["count"] = params.pop("k", 1)
    return params


@node(type="toy.versioned", title="Versioned", category="Toy", version=2,
      outputs=[Output("number", NUMBER)], params=[Int(name="count", default=1)],
      migrations={1: _v1_to_v2})
def versioned(ctx, *, count):
    return {"number": count}


def show_value(value, ctx):
    from nicegui import ui  # here, not at the top: loading plugins must not import the UI

    ui.label(str(value)).classes("text-lg")


NODES = [number, add, describe, read, fail, crash, write, wait, versioned]
VIEWERS = [viewer(NUMBER, "Number")(show_value), viewer(WORDS, "Words")(show_value)]
