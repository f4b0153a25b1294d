"""The safe codec: values survive a round trip; nothing unknown is ever rebuilt."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from flowclass import codec
from nodes.datatypes import ImageSet, Labelling


def _images():
    return ImageSet(np.array(["/a/1.png", "/a/2.png"]), np.array(["x", ""]),
                    np.array(["h1", "h2"]), np.array([3, 4], dtype=np.int32),
                    np.array([5, 6], dtype=np.int32), root="/a")


def test_round_trip_of_nested_values(tmp_path):
    value = {"labels": Labelling(_images(), np.array(["C1", "C2"]), np.array([0.5, np.nan]),
                                 classes=("C1", "C2"), columns={"top": np.array([1, 2])}),
             "table": pd.DataFrame({"path": ["a", None], "n": [1.5, 2.0]}),
             "misc": (1, "two", float("inf"), None, [True])}
    codec.save(value, tmp_path / "v")
    back = codec.load(tmp_path / "v")
    assert back["labels"].images.paths.tolist() == ["/a/1.png", "/a/2.png"]
    assert back["labels"].classes == ("C1", "C2")
    assert np.isnan(back["labels"].scores[1])
    assert back["table"]["path"].tolist() == ["a", None]
    assert back["misc"] == (1, "two", float("inf"), None, [True])
    assert codec.from_bytes(codec.to_bytes(value))["labels"].labels.tolist() == ["C1", "C2"]


def test_unknown_types_are_refused_both_ways(tmp_path):
    with pytest.raises(codec.CodecError):
        codec.encode(object())
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "value.json").write_text(json.dumps({"__dataclass__": "os.system", "fields": {}}))
    with pytest.raises(codec.CodecError, match="unknown value type"):
        codec.load(tmp_path / "v")


def test_a_pickle_is_not_a_value_file():
    with pytest.raises(codec.CodecError):
        codec.from_bytes(pickle.dumps({"a": 1}))
