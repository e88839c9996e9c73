"""hypothesis strategies for WebSocket messages: what a careless or hostile client may
send on 19001 (and 19003, 18003).

A :class:`Sent` is the frames of one message plus what the reply must echo: the
payload is JSON of random ``biz_type``, fields (the real ones, aliases, unknown ones),
value types and sizes, nesting, or text that is not JSON, not UTF-8, a binary frame,
a message in fragments (with a PING between them). Everything stays under the server's
64 KiB message limit: the oversize case closes the socket (tested on its own).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.wsraw import BINARY, CONTINUATION, PING, TEXT, frame

MAX_DEPTH = 4  # the documented bounds of a request (docs/API.md, section 7), not the server's constants
MAX_MEMBERS = 64
FIELDS = ["exchange", "contract", "price_type", "entrust_vol", "entrust_bs", "entrust_price", "future_dir", "lever",
          "profit_value", "stop_value", "client_oid", "deal_id", "close_rule", "system_oid", "systemOid", "status",
          "from", "limit", "count", "position_dir", "positionDir", "timestamp", "req_id", "biz_type"]
GOOD = {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_vol": "0.01", "entrust_bs": "buy",
        "entrust_price": "10", "count": 5, "system_oid": "1179500000000000000", "status": 3, "limit": 10}


@dataclass
class Sent:
    frames: list[bytes]
    text: bool  # a text message (else binary)
    payload: bytes
    obj: Any = None  # the decoded JSON when the payload is JSON within the bounds


def within_bounds(value: Any) -> bool:
    """Nested at most MAX_DEPTH levels, no object or array over MAX_MEMBERS members
    (iterative: a generated value may be nested thousands deep)."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            if level > MAX_DEPTH or len(node) > MAX_MEMBERS:
                return False
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return True


scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40), st.text(min_size=60, max_size=600),
    st.sampled_from(["", "0", "-1", "1e3", "--5", "1" * 19, "1" * 40, "buy", "BUY", "limit", "TEST", "BTC/USDT",
                     "1179500000000000000", "1,2,3", " 1 , 2 ", ",,", "0.00000001", "99999999999999999999"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=5),
                      max_leaves=12)
biz_types = st.one_of(st.integers(11, 17), st.integers(-3, 40), st.integers(min_value=-(2**63), max_value=2**64 - 1),
                      st.sampled_from(["11", "13", "eleven", "", "1e1", "11.0"]), st.floats(10, 18),
                      st.booleans(), st.none(), values)
requests = st.builds(
    lambda head, good, extra: {**head, **good, **extra},
    st.one_of(biz_types.map(lambda b: {"biz_type": b}), st.just({})),
    st.lists(st.sampled_from(sorted(GOOD)), unique=True).map(lambda keys: {k: GOOD[k] for k in keys}),
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), values, max_size=10),
)


@st.composite
def json_messages(draw: Any) -> Sent:
    obj = draw(st.one_of(requests, values))
    text = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    payload = text.encode("utf-8", "surrogatepass")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:  # a lone surrogate in a generated string: not UTF-8 on the wire
        return Sent([frame(TEXT, payload)], True, payload)
    return Sent([frame(TEXT, payload)], True, payload, obj if within_bounds(obj) else None)


@st.composite
def broken_messages(draw: Any) -> Sent:
    """Not JSON, or not UTF-8: random bytes, a JSON message cut short or with a stray byte."""
    base = draw(json_messages()).payload
    kind = draw(st.sampled_from(["bytes", "cut", "stray", "nested"]))
    if kind == "bytes":
        payload = draw(st.binary(max_size=300))
    elif kind == "cut":
        payload = base[: draw(st.integers(0, max(0, len(base) - 1)))]
    elif kind == "stray":
        at = draw(st.integers(0, len(base)))
        payload = base[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xf4\x90\x80\x80"])) \
            + base[at:]
    else:  # nested far beyond the bounds, still under 64 KiB
        n = draw(st.sampled_from([MAX_DEPTH + 1, 50, 1000, 30_000]))
        payload = b'{"biz_type":13,"a":' + b"[" * n + b"]" * n + b"}"
    return Sent([frame(TEXT, payload)], True, payload)


@st.composite
def framed_messages(draw: Any) -> Sent:
    """A binary frame, or a message in fragments (a PING may sit between them)."""
    inner = draw(st.one_of(json_messages(), broken_messages()))
    if draw(st.booleans()):
        return Sent([frame(BINARY, inner.payload)], False, inner.payload)
    cuts = sorted(draw(st.lists(st.integers(0, len(inner.payload)), min_size=1, max_size=3)))
    parts = [inner.payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(inner.payload)], strict=True)]
    frames = [frame(TEXT if i == 0 else CONTINUATION, part, fin=i == len(parts) - 1) for i, part in enumerate(parts)]
    if draw(st.booleans()) and len(frames) > 1:
        frames.insert(1, frame(PING, b"between"))
    return Sent(frames, True, inner.payload, inner.obj)


messages = st.one_of(json_messages(), broken_messages(), framed_messages(),
                     st.just(Sent([frame(TEXT, b"ping")], True, b"ping")))
