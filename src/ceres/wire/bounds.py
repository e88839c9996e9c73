"""Bounds on the shape of input, checked before any work is done with it (signing,
authentication, lookups), the same on every port.

* JSON (``check_shape``, called by ``ceres.wire.codec``): nesting depth (an object is 1
  level, an object inside it 2, ...), members per object or array, and integers within
  64 bits (``MIN_INT``..``MAX_INT``; the decoder itself reads any length). No request
  needs more than 2 levels; the limits leave room and stop a small body from costing a
  deep walk, a long signature or a long echo. Over a limit: ``INVALID_JSON`` saying
  which. (The codec lets the usual request, one flat object of scalars, skip the walk.)
* Query strings (``bad_query_param``): percent escapes must decode to UTF-8; the REST
  routes refuse a parameter that does not (its name in the error) instead of reading
  replacement characters into it.

The size of a body or message is bounded before this (``limits.max_body_bytes``), the
length of each field by the request types (``ceres.gateway.protocol``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from ceres.domain.errors import CeresError, ErrorCode

MAX_DEPTH = 4
"""Nesting levels of a request (REST body, 19001 message); 18003 takes 3."""
MAX_MEMBERS = 64
"""Members of one object or array in a request (REST body, 19001 message)."""

MIN_INT = -(2**63)
MAX_INT = 2**64 - 1
"""JSON integers a request may hold (64 bits, signed or not)."""

_CONTAINERS = (dict, list)


def check_shape(value: Any, what: str, max_depth: int = MAX_DEPTH, max_members: int | None = MAX_MEMBERS) -> None:
    """INVALID_JSON when ``value`` (decoded JSON) nests deeper than ``max_depth``, has an
    object or array with more than ``max_members`` members (None: no member limit), or
    an integer outside ``MIN_INT``..``MAX_INT``."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if type(node) is int and not MIN_INT <= node <= MAX_INT:
            raise CeresError(ErrorCode.INVALID_JSON, f"{what} has an integer beyond 64 bits")
        if not isinstance(node, _CONTAINERS):
            continue
        if depth + 1 > max_depth:
            raise CeresError(ErrorCode.INVALID_JSON, f"{what} is nested more than {max_depth} levels deep")
        if max_members is not None and len(node) > max_members:
            kind = "an object" if isinstance(node, dict) else "an array"
            raise CeresError(ErrorCode.INVALID_JSON,
                             f"{what} has {kind} of {len(node)} members; at most {max_members}")
        members = node.values() if isinstance(node, dict) else node
        stack.extend((member, depth + 1) for member in members)


def bad_query_param(raw_query: str) -> str | None:
    """The name of the first query parameter whose percent escapes are not UTF-8 (None
    when every one is)."""
    if "%" not in raw_query:
        return None
    for pair in raw_query.split("&"):
        if "%" not in pair:
            continue
        try:
            unquote_to_bytes(pair.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            name = pair.partition("=")[0]
            return unquote_to_bytes(name).decode("utf-8", "replace")[:64] or "?"
    return None
