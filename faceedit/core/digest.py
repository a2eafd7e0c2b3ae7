"""A content digest of nested payloads of tensors and plain values (model files, training states).

torch's zip reader checks no checksums, so a damaged file can load and silently produce
broken edits or training. Files therefore carry the SHA-256 of their own contents, which
:func:`payload_digest` computes from what was loaded (not from the file's bytes): the same
value before saving and after loading, whatever torch's container does. Any thread.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch


def _tensor_bytes(tensor: torch.Tensor) -> memoryview:
    """The raw bytes of a tensor (bfloat16 has no numpy type: read it as int16)."""
    t = tensor.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return memoryview(t.numpy()).cast("B")


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        digest.update(f"T{str(value.dtype)}{tuple(value.shape)}:".encode())
        digest.update(_tensor_bytes(value))
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}:".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"L{len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    else:  # str, int, float, bool, None: repr is exact and stable
        digest.update(f"S{type(value).__name__}{value!r};".encode())


def payload_digest(payload: dict[str, Any], exclude: str = "digest") -> str:
    """SHA-256 (hex) of ``payload`` without its ``exclude`` key, walked in a fixed order."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in payload.items() if k != exclude})
    return digest.hexdigest()
