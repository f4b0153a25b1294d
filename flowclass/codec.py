"""Safe serialisation of node values: JSON for structure, ``.npz`` for arrays, no pickle.

Values that flow between nodes are cached on disk and may be shared (model files). Loading
must never run code from a file, so this codec only rebuilds what it knows: JSON scalars,
lists, dicts, NumPy arrays (loaded with ``allow_pickle=False``), pandas DataFrames, and
dataclasses registered by name with :func:`serializable`. Anything else is refused on save.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import zipfile
import zlib
from pathlib import Path, PurePath
from typing import Any, Callable, NamedTuple, TypeVar

import numpy as np

from . import safe_json
from .errors import CodecError

T = TypeVar("T")
_CLASSES: dict[str, type] = {}
_NAMES: dict[type, str] = {}


def serializable(name: str) -> Callable[[type[T]], type[T]]:
    """Register a dataclass under a stable ``name`` so the codec may save and rebuild it."""

    def register(cls: type[T]) -> type[T]:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls!r} is not a dataclass")
        if _CLASSES.get(name, cls) is not cls:
            raise ValueError(f"codec name {name!r} is already registered for {_CLASSES[name]!r}")
        _CLASSES[name] = cls
        _NAMES[cls] = name
        return cls

    return register


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, value: np.ndarray) -> dict[str, Any]:
        if value.dtype == object:
            if all(isinstance(v, str) for v in value.ravel()):
                value = value.astype(str)
            else:
                raise CodecError("cannot save an object array that does not hold only strings")
        ref = f"a{len(self.arrays)}"
        self.arrays[ref] = value
        return {"__array__": ref}

    def __call__(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
            return int(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, np.ndarray):
            return self.array(value)
        if isinstance(value, PurePath):
            return {"__path__": str(value)}
        if isinstance(value, tuple):
            return {"__tuple__": [self(v) for v in value]}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise CodecError("dictionary keys must be strings")
            return {"__dict__": {k: self(v) for k, v in value.items()}}
        if type(value) in _NAMES:
            fields = {f.name: self(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return {"__dataclass__": _NAMES[type(value)], "fields": fields}
        frame = _dataframe_tree(value, self)
        if frame is not None:
            return frame
        raise CodecError(f"cannot save a value of type {type(value).__name__}")


def _dataframe_tree(value: Any, encode: _Encoder) -> dict[str, Any] | None:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        return None
    if not isinstance(value, pd.DataFrame):
        return None
    columns = []
    for name in value.columns:
        column = value[name]
        if column.dtype == object or str(column.dtype) in ("string", "str"):
            data: Any = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else encode(v)
                         for v in column.tolist()]
            columns.append({"name": str(name), "kind": "list", "data": data})
        else:
            columns.append({"name": str(name), "kind": "array", "data": encode(column.to_numpy())})
    return {"__dataframe__": columns}


def encode(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """Split ``value`` into a JSON tree and the arrays it refers to."""
    encoder = _Encoder()
    return encoder(value), encoder.arrays


def decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Rebuild a value from :func:`encode`'s output; unknown markers are refused."""
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if isinstance(tree, list):
        return [decode(v, arrays) for v in tree]
    if not isinstance(tree, dict) or len(tree) not in (1, 2):
        raise CodecError("malformed value tree")
    if "__array__" in tree:
        try:
            return arrays[tree["__array__"]]
        except KeyError:
            raise CodecError(f"missing array {tree['__array__']!r}") from None
    if "__float__" in tree:
        return float(tree["__float__"])
    if "__path__" in tree:
        return Path(tree["__path__"])
    if "__tuple__" in tree:
        return tuple(decode(v, arrays) for v in tree["__tuple__"])
    if "__dict__" in tree:
        return {k: decode(v, arrays) for k, v in tree["__dict__"].items()}
    if "__dataclass__" in tree:
        cls = _CLASSES.get(tree["__dataclass__"])
        if cls is None:
            raise CodecError(f"unknown value type {tree['__dataclass__']!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        fields = tree.get("fields", {})
        if set(fields) - names:
            raise CodecError(f"{tree['__dataclass__']}: unknown fields {sorted(set(fields) - names)}")
        return cls(**{k: decode(v, arrays) for k, v in fields.items()})
    if "__dataframe__" in tree:
        import pandas as pd

        data = {}
        for column in tree["__dataframe__"]:
            values = decode(column["data"], arrays) if column["kind"] == "array" else \
                [None if v is None else decode(v, arrays) for v in column["data"]]
            data[column["name"]] = pd.Series(values, dtype=object if column["kind"] == "list" else None)
        return pd.DataFrame(data)
    raise CodecError(f"unknown marker {sorted(tree)!r}")


# --- files ---------------------------------------------------------------------------

def save(value: Any, folder: str | os.PathLike[str]) -> None:
    """Write ``value`` as ``value.json`` (+ ``arrays.npz``) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tree, arrays = encode(value)
    (folder / "value.json").write_text(json.dumps(tree), encoding="utf-8")
    if arrays:
        np.savez(folder / "arrays.npz", **arrays)


def load(folder: str | os.PathLike[str]) -> Any:
    folder = Path(folder)
    tree = safe_json.loads((folder / "value.json").read_text(encoding="utf-8"))
    arrays: dict[str, np.ndarray] = {}
    if (folder / "arrays.npz").exists():
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    return decode(tree, arrays)


def _zip(members: dict[str, bytes]) -> bytes:
    """A zip of ``members`` dated 1980, so the same value always gives the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data,
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def to_bytes(value: Any) -> bytes:
    """One zip holding ``value.json`` and ``arrays.npz``: a shareable file, never pickle.

    Deterministic: equal values give byte-identical files (a model file saved by two runs
    of the same workflow is the same file).
    """
    tree, arrays = encode(value)
    npz = _zip({f"{name}.npy": _npy(array) for name, array in arrays.items()})
    return _zip({"value.json": json.dumps(tree).encode("utf-8"), "arrays.npz": npz})


class ZipLimits(NamedTuple):
    """How much a shared file may inflate to, checked before anything is inflated.

    A zip entry states its inflated size, and Python's zipfile never inflates past it, so
    checking the stated sizes bounds the memory a file can take: ``max_bytes`` in all, and
    no entry above ``ratio_from`` bytes inflating more than ``max_ratio`` times (real arrays
    of numbers deflate 1-10 times; a zip bomb's zeros about 1000 times).
    """

    max_bytes: int = 2**30
    max_ratio: float = 100.0
    ratio_from: int = 16 * 2**20
    #: Opening a zip makes a Python object (hundreds of bytes) of every entry its directory
    #: lists, before any size can be checked: a 24 MB file of 300,000 empty entries took
    #: 180 MB. Real files hold a few hundred entries.
    max_entries: int = 100_000
    max_directory: int = 64 * 2**20


LIMITS = ZipLimits()


def open_zip(data: bytes, limits: ZipLimits = LIMITS) -> zipfile.ZipFile:
    """The zip in ``data``, checked with :func:`check_zip`; its directory's size (as its
    end record states it) is checked first, before ZipFile reads the directory."""
    stream = io.BytesIO(data)
    end = zipfile._EndRecData(stream)  # pylint: disable=protected-access  # zip64 too
    if end is not None:
        entries = end[zipfile._ECD_ENTRIES_TOTAL]  # pylint: disable=protected-access
        directory = end[zipfile._ECD_SIZE]  # pylint: disable=protected-access
        if entries > limits.max_entries or directory > limits.max_directory:
            raise CodecError(f"it lists {entries:,} entries in {directory / 2**20:.1f} MB of zip "
                             f"directory, more than FlowClass reads ({limits.max_entries:,} "
                             f"entries, {limits.max_directory / 2**20:.0f} MB)")
    archive = zipfile.ZipFile(stream)
    try:
        check_zip(archive, limits)
    except CodecError:
        archive.close()
        raise
    return archive


def check_zip(archive: zipfile.ZipFile, limits: ZipLimits = LIMITS) -> None:
    """Refuse, with :class:`CodecError`, a zip that would inflate past ``limits``, or that
    lists a name twice (Python reads the last, another reader may take the first)."""
    total, names = 0, set()
    for info in archive.infolist():
        if info.filename in names:
            raise CodecError(f"its entry {info.filename!r} is listed twice; which one counts would "
                             "depend on the program reading it")
        names.add(info.filename)
        total += info.file_size
        if total > limits.max_bytes:
            raise CodecError(f"it would inflate to more than {limits.max_bytes / 2**20:.0f} MB, "
                             "larger than FlowClass reads")
        if info.file_size > limits.ratio_from and \
                info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise CodecError(f"its entry {info.filename!r} would inflate "
                             f"{info.file_size / max(info.compress_size, 1):.0f} times (to "
                             f"{info.file_size / 2**20:.0f} MB); a real value never does")


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except KeyError:
        raise CodecError(f"it has no {name}") from None


def _read_npz(data: bytes, limits: ZipLimits) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, each checked against its header before it is allocated."""
    arrays = {}
    with open_zip(data, limits) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            stream = io.BytesIO(archive.read(info))
            version = np.lib.format.read_magic(stream)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(stream)
            if dtype.hasobject:
                raise CodecError(f"array {name!r} holds Python objects; they are never loaded")
            needed = math.prod(shape) * dtype.itemsize
            if needed > info.file_size - stream.tell():
                raise CodecError(f"array {name!r} claims {needed / 2**20:.0f} MB but its "
                                 f"entry holds {info.file_size / 2**20:.1f} MB")
            stream.seek(0)
            arrays[name] = np.lib.format.read_array(stream, allow_pickle=False)
    return arrays


# Everything a damaged zip can raise while it is read: bad headers, a wrong CRC, deflate
# data that is cut or corrupt, an array header that does not parse.
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
            ValueError, TypeError, KeyError, NotImplementedError, OverflowError, MemoryError,
            UnicodeDecodeError)


def from_bytes(data: bytes, limits: ZipLimits = LIMITS) -> Any:
    """The value in a :func:`to_bytes` file; :class:`CodecError` saying why for anything else.

    The file may come from anyone: its size is bounded before anything inflates
    (``limits``), its JSON nesting is bounded, and arrays load without pickle.
    """
    try:
        if len(data) > limits.max_bytes:
            raise CodecError(f"it is {len(data) / 2**20:.0f} MB, larger than FlowClass reads")
        with open_zip(data, limits) as archive:
            tree = safe_json.loads(_read_member(archive, "value.json"))
            arrays = _read_npz(_read_member(archive, "arrays.npz"), limits)
        return decode(tree, arrays)
    except CodecError as exc:
        raise CodecError(f"not a FlowClass value file: {exc}") from None
    except safe_json.Refused as exc:
        raise CodecError(f"not a FlowClass value file: {exc}") from None
    except _DAMAGED as exc:
        raise CodecError(f"not a FlowClass value file: it is damaged or cut short "
                         f"({type(exc).__name__}: {exc})") from None
