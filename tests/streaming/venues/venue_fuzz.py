"""Hypothesis helpers shared by the venue parser tests."""

from __future__ import annotations

from hypothesis import strategies as st


def maybe_damaged(draw: st.DrawFn, text: str, *, truncate: bool = False) -> str | bytes:
    """``text`` as it is, or with byte-level damage on top: a few bytes overwritten, inserted or deleted
    (and, with ``truncate``, possibly the tail cut off)."""
    if not draw(st.booleans()):
        return text
    data = bytearray(text.encode())
    kinds = ["overwrite", "insert", "delete", *(["truncate"] if truncate else [])]
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(data)))
        kind = draw(st.sampled_from(kinds))
        byte = draw(st.integers(min_value=0, max_value=255))
        if kind == "truncate":
            del data[position:]
        elif kind == "insert" or position == len(data):
            data.insert(position, byte)
        elif kind == "overwrite":
            data[position] = byte
        else:
            del data[position]
    return bytes(data)
