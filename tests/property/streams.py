"""Random command streams over a small TEST world, drawn interactively with hypothesis.

World: three products; BTC/USDT, ETH/USDT and ETH/BTC (one with a maker rebate) on grids
where fees are usually fractional; funds finite, so some orders are rejected for funds,
and some prices/volumes fall under the minimums. An operation is one engine command
(funding moves: two, deposit + transfer or transfer + withdraw).

Orders mix every time in force (default, GTC, IOC, FOK, post-only, now and then one that
cannot apply) and self-trade prevention mode (also an invalid one now and then). The
products trade with each other and with themselves: three places in four are on the
contract of the previous place, and half are by a product that placed one of the last
three orders (likely resting still), so trades and self-trades are frequent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
from naive_exchange import BUY, LIMIT, MARKET, SELL, Spec

from ceres.domain import commands as C
from ceres.domain.enums import Kind, TimeInForce
from ceres.domain.errors import CeresError
from ceres.domain.instruments import Instrument
from ceres.engine.core import Engine

T0 = 1_760_000_000_000
PRODUCTS = ("p0", "p1", "p2")
DECIMALS = {"BTC": 8, "USDT": 6, "ETH": 6}
SPECS = [
    # contract, tick, lot, min_price, min_volume, maker, taker
    Spec("BTC/USDT", "0.5", "0.001", "48", "0.002", "0.0002", "0.0007"),
    Spec("ETH/USDT", "0.01", "0.01", "0.01", "0.01", "0.0005", "0.0005"),
    Spec("ETH/BTC", "0.0001", "0.01", "0.0001", "0.01", "-0.0001", "0.001"),
]
MID = {"BTC/USDT": 100, "ETH/USDT": 2000, "ETH/BTC": 4000}  # ticks
FUND_CAP = {"USDT": 10_000_000, "BTC": 15_000_000, "ETH": 1_500_000}
BUDGET_CAP = {"USDT": 1_500_000, "BTC": 3_000_000}
COIDS = ("", "", "", "a", "b")
KINDS = ["place"] * 12 + ["cancel"] * 3 + ["fund", "out"]
DEFAULT, GTC, IOC, FOK, POST_ONLY = (int(t) for t in TimeInForce)
TIFS = {LIMIT: (DEFAULT, GTC, POST_ONLY, IOC, DEFAULT, FOK, GTC, POST_ONLY),
        MARKET: (DEFAULT, IOC, FOK, DEFAULT, IOC)}
MARKET_BUY_TIFS = (DEFAULT, IOC)
BAD_TIFS = {LIMIT: (7,), MARKET: (GTC, POST_ONLY, FOK, 7)}  # (FOK: for a market buy)
STPS = (0, 0, 1, 2, 3, 0, 1, 2, 3)  # SelfTradePrevention: none, cancel_taker, cancel_maker, cancel_both
BAD_STPS = (4, 9)


def instruments() -> list[Instrument]:
    return [Instrument("TEST", s.contract, Kind.SPOT, s.base, s.quote, s.tick, s.lot, s.min_price,
                       s.min_volume, s.maker, s.taker, DECIMALS[s.base], DECIMALS[s.quote])
            for s in SPECS]


def draw_op(data: st.DataObject, known_oids: list[int], recent: tuple[tuple[str, str], ...] = ()) -> tuple:
    """A random operation; cancels pick from ``known_oids`` (any product, maybe finished).
    ``recent``: (product, contract) of the last places; a place often picks the contract of
    the last one and the product of one of the last three again."""
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    p = data.draw(st.sampled_from(PRODUCTS), label="product")
    if kind == "place":
        spec = data.draw(st.sampled_from(SPECS), label="instrument")
        if recent and data.draw(st.integers(0, 3), label="same contract") != 2:
            spec = next(s for s in SPECS if s.contract == recent[-1][1])
        if recent and data.draw(st.booleans(), label="recent product"):
            p = data.draw(st.sampled_from([q for q, _ in recent[-3:]]), label="product again")
        side = data.draw(st.sampled_from([BUY, SELL]), label="side")
        ptype = data.draw(st.sampled_from([LIMIT, LIMIT, LIMIT, MARKET]), label="ptype")
        coid = data.draw(st.sampled_from(COIDS), label="coid")
        if ptype == MARKET and side == BUY:
            cap = BUDGET_CAP[spec.quote]  # in percent steps: hypothesis favours tiny integers
            vol = (cap * data.draw(st.integers(0, 100), label="budget %") // 100
                   + data.draw(st.integers(0, 99), label="budget +"))
            price = 0
        else:
            vol = data.draw(st.integers(1, 12), label="vol")
            price = 0 if ptype == MARKET else MID[spec.contract] + data.draw(st.integers(-6, 6), label="off")
        tif = data.draw(st.sampled_from(MARKET_BUY_TIFS if ptype == MARKET and side == BUY else TIFS[ptype]),
                        label="tif")
        stp = data.draw(st.sampled_from(STPS), label="stp")
        odd = data.draw(st.integers(0, 39), label="odd")  # now and then a value that cannot apply
        if odd == 13:  # (a middle value: hypothesis favours the ends of a range)
            tif = data.draw(st.sampled_from(BAD_TIFS[ptype]), label="bad tif")
        elif odd == 27:
            stp = data.draw(st.sampled_from(BAD_STPS), label="bad stp")
        return ("place", p, spec.contract, side, ptype, price, vol, coid, tif, stp)
    if kind == "cancel":
        pool = [*known_oids, 123456789]
        n = data.draw(st.integers(0, 3), label="n_ids")
        ids = [data.draw(st.sampled_from(pool), label="id") for _ in range(n)]
        return ("cancel", p, tuple(ids))
    cur = data.draw(st.sampled_from(sorted(FUND_CAP)), label="currency")
    amount = data.draw(st.integers(0, FUND_CAP[cur]), label="amount")
    return (kind, p, cur, amount)


def op_commands(op: tuple) -> list[C.Command]:
    kind, p = op[0], op[1]
    if kind == "place":
        _, _, contract, side, ptype, price, vol, coid, tif, stp = op
        return [C.Place(p, "TEST", contract, side, ptype, price, vol, coid, tif=tif, stp=stp)]
    if kind == "cancel":
        return [C.Cancel(p, op[2])]
    _, _, cur, amount = op
    if kind == "fund":
        return [C.Deposit(p, cur, amount), C.Transfer(p, cur, amount, 2, 3, "TEST")]
    return [C.Transfer(p, cur, amount, 3, 2, "TEST"), C.Withdraw(p, cur, amount)]


def new_engine() -> Engine:
    eng = Engine(instruments(), DECIMALS)
    for i, p in enumerate(PRODUCTS):
        eng.apply(C.CreateProduct(p), i + 1, T0)
    return eng


def run_stream(data: st.DataObject, eng: Engine, on_command: Callable[[C.Command, Any], None],
               max_ops: int = 60) -> list[tuple[C.Command, int, int]]:
    """Fund every product, then apply up to ``max_ops`` random operations to ``eng``.

    ``on_command(cmd, result)`` is called after each command with the engine's result or,
    for a rejection, the ErrorCode name. Returns the commands as applied: (cmd, seq, now).
    """
    ops = [("fund", p, cur, data.draw(st.sampled_from([c, c // 2, c, c // 20, c, 0]), label="initial"))
           for p in PRODUCTS for cur, c in sorted(FUND_CAP.items())]
    n = data.draw(st.integers(max_ops // 3, max_ops), label="n_ops")
    applied: list[tuple[C.Command, int, int]] = []
    known: list[int] = []
    recent: list[tuple[str, str]] = []  # (product, contract) of the last places
    seq, now = eng.seq, eng.now
    for i in range(len(ops) + n):
        op = ops[i] if i < len(ops) else draw_op(data, known, tuple(recent[-3:]))
        if op[0] == "place":
            recent.append((op[1], op[2]))
        for cmd in op_commands(op):
            seq += 1
            now += data.draw(st.integers(-5, 30), label="dt")  # the clock may step back
            try:
                result: Any = eng.apply(cmd, seq, now)
            except CeresError as exc:
                result = exc.error.name
            applied.append((cmd, seq, now))
            if isinstance(cmd, C.Place) and isinstance(result, int):
                known.append(result)
            on_command(cmd, result)
    return applied
