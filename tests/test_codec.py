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


@pytest.mark.parametrize("twice", ["value.json", "arrays.npz"])
def test_a_value_file_listing_an_entry_twice_is_refused(twice):
    """A zip may list two entries of one name: Python read the last, where another reader (or
    a person with an archive tool) may see the first, so a shared file could say two things.
    Refused, naming the entry; so is an array listed twice inside arrays.npz."""
    import io
    import zipfile

    good = codec.to_bytes({"a": np.arange(3), "b": "text"})
    if twice == "value.json":  # a second value, read in place of the first
        shared = zip_with_second(good, "value.json", json.dumps({"x": 1}).encode())
    else:  # an array listed twice inside arrays.npz
        with zipfile.ZipFile(io.BytesIO(good)) as archive:
            npz = archive.read("arrays.npz")
        with zipfile.ZipFile(io.BytesIO(npz)) as arrays:
            first = arrays.namelist()[0]
            npz = zip_with_second(npz, first, arrays.read(first))
        shared = _replaced(good, "arrays.npz", npz)
    with pytest.raises(codec.CodecError) as refused:
        codec.from_bytes(shared)
    assert "listed twice" in str(refused.value), refused.value


def _replaced(data: bytes, name: str, content: bytes) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            target.writestr(info, content if info.filename == name else source.read(info))
    return buffer.getvalue()


def zip_with_second(data: bytes, name: str, second: bytes) -> bytes:
    """The zip ``data`` with a second entry named ``name`` (holding ``second``) at its end."""
    import io
    import warnings
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name it writes
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr(name, second)
    return buffer.getvalue()
