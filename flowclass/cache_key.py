"""A node result's cache key: what identifies a result, and nothing about how it is found out.

The key is a digest of the node's type, version (and revision), its resolved parameters,
where each input comes from (the key of the result feeding it, and its port) and the
fingerprint of what the node reads outside its inputs. Checking paths on disk and taking
the fingerprint are the engine's work; keeping the identity apart (as Hamilton keeps
its cache key) lets it be read, tested and changed in one place.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

from .node import NodeType

KEY_SCHEME = "flowclass-key-1"  # a change of this module that changes keys changes this too


def cache_key(node_type: NodeType, params: Mapping[str, Any],
              inputs: Mapping[str, tuple[str | None, str] | None], fingerprint: str | None) -> str:
    """The key of a node's result.

    ``inputs`` maps each input port to the (key, port) of the output feeding it, or None
    when nothing is wired into it; ``fingerprint`` is what ``node_type.fingerprint`` said.
    """
    identity: dict[str, Any] = {
        "scheme": KEY_SCHEME, "type": node_type.type, "version": node_type.version,
        "params": params, "fingerprint": fingerprint,
        "inputs": {name: None if source is None else [source[0], source[1]] for name, source in inputs.items()}}
    if node_type.revision:
        identity["revision"] = node_type.revision
    return _digest(identity)


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
