"""SHA-256 without importing hashlib where Python has its own.

hashlib loads OpenSSL when it is imported, which costs an unchanged re-run more than all the
hashing it does (a few short names and one workflow file): CPython's built-in SHA-256 module
gives the same digests (``_sha2`` since 3.12, ``_sha256`` before), and hashlib stands in
where there is neither.
"""

from __future__ import annotations

from typing import Any


def _constructor() -> Any:
    for name in ("_sha256", "_sha2"):  # as Python 3.11 names it, then 3.12 on
        try:
            return getattr(__import__(name), "sha256")
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


sha256 = _constructor()  # sha256(data=b"") -> an object with update(), digest(), hexdigest()
