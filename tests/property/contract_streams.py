"""Random contract command streams over a small TEST world, drawn interactively with
hypothesis (the style of ``streams.py``).

World: three products; a linear perpetual (``LPERP``, USDT with 5 decimals so one tick x
one lot is 10 minor units and fees and margins round), an inverse perpetual (``IPERP``,
notionals floored), both with a 60 s funding interval, and a linear dated contract
(``LDATED``) that expires 200 s after T0. Funds are finite (some orders are refused),
prices stay near 1000 ticks, mark moves of up to +-12% liquidate the high levers, TP/SL
are sometimes on the wrong side; "far" orders rest 2-15% away from the middle, so closes
and liquidations into them lose more than the margins (insurance fund, ADL). Operations
are single engine commands except the fund moves (deposit + transfer to the contract
account, transfer back + withdraw) and "pair" (two products opening opposite positions
at one price, so positions exist). Opens and closes mix every time in force and
self-trade prevention mode, and are often by a product with orders resting on that
contract, so self-trades (prevented or not) happen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st

from ceres.domain import commands as C
from ceres.domain.enums import Kind
from ceres.domain.errors import CeresError
from ceres.domain.instruments import Instrument
from ceres.engine.core import Engine

T0 = 1_760_000_000_000
PRODUCTS = ("p0", "p1", "p2")
DECIMALS = {"USDT": 5, "BTC": 8}
FUNDING_MS = 60_000
EXPIRY_MS = T0 + 200_000
CONTRACTS = ("LPERP", "IPERP", "LDATED")
SETTLE = {"LPERP": "USDT", "IPERP": "BTC", "LDATED": "USDT"}
MID = 1000                                   # ticks, every contract
LEVERS = (1, 2, 3, 5, 10, 20, 50, 100, 0, 101)
FUND_CAP = {"USDT": 400_000, "BTC": 6_000_000}
KINDS = ["open"] * 10 + ["close"] * 6 + ["cancel"] * 3 + ["index"] * 3 + ["rate", "tick", "tick",
                                                                         "fund", "out", "pair", "pair",
                                                                         "far", "far"]
DTS = (1, 5, 1_000, 20_000, 60_000, 120_000)
TIFS = {1: (0, 0, 1, 2, 3, 4, 0), 2: (0, 0, 2, 3)}  # TimeInForce by price type (a contract market order may be FOK)
STPS = (0, 0, 1, 2, 3)  # SelfTradePrevention


def instruments() -> list[Instrument]:
    common = {"max_lever": 100, "maint_margin": "0.005"}
    return [
        Instrument("TEST", "LPERP", Kind.PERPETUAL, "BTC", "USDT", "0.1", "1", "0.1", "1", "-0.00025",
                   "0.00075", 8, 5, contract_value="0.001", funding_interval_ms=FUNDING_MS,
                   funding_rate="0.0001", **common),
        Instrument("TEST", "IPERP", Kind.PERPETUAL, "BTC", "USD", "0.5", "1", "0.5", "1", "-0.00025",
                   "0.00075", 8, 0, contract_value="1", inverse=True, funding_interval_ms=FUNDING_MS,
                   funding_rate="0.0001", **common),
        Instrument("TEST", "LDATED", Kind.DATED, "BTC", "USDT", "0.1", "1", "0.1", "1", "-0.0005",
                   "0.0025", 8, 5, contract_value="0.001", expiry_ms=EXPIRY_MS, **common),
    ]


def new_engine() -> Engine:
    eng = Engine(instruments(), DECIMALS)
    for i, p in enumerate(PRODUCTS):
        eng.apply(C.CreateProduct(p), i + 1, T0)
    return eng


def _price(data: st.DataObject, label: str = "off") -> int:
    return MID + data.draw(st.integers(-8, 8), label=label)


def draw_op(data: st.DataObject, eng: Engine, known_oids: list[int]) -> tuple:
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    p = data.draw(st.sampled_from(PRODUCTS), label="product")
    if kind in ("open", "close"):
        contract = data.draw(st.sampled_from(CONTRACTS), label="contract")
        resting = sorted({o.product.name for o in eng.open_orders.values() if o.spec.inst.contract == contract})
        if resting and data.draw(st.booleans(), label="own book"):  # often trade with its own orders
            p = data.draw(st.sampled_from(resting), label="resting product")
        side = data.draw(st.sampled_from([1, 2]), label="side")
        ptype = data.draw(st.sampled_from([1, 1, 1, 2]), label="ptype")
        price = _price(data) if ptype == 1 else 0
        vol = data.draw(st.integers(0, 12), label="vol")
        coid = data.draw(st.sampled_from(["", "", "", "x"]), label="coid")
        tif = data.draw(st.sampled_from(TIFS[ptype]), label="tif")
        stp = data.draw(st.sampled_from(STPS), label="stp")
        if kind == "open":
            lever = data.draw(st.sampled_from(LEVERS), label="lever")
            tp = sl = 0
            if data.draw(st.integers(0, 3), label="tpsl") == 0:
                ref = price or MID
                tp = max(0, ref + data.draw(st.integers(-20, 60), label="tp") * (1 if side == 1 else -1))
                sl = max(0, ref - data.draw(st.integers(-20, 60), label="sl") * (1 if side == 1 else -1))
            return ("place", C.Place(p, "TEST", contract, side, ptype, price, vol, coid, 1, lever, tp, sl,
                                     tif=tif, stp=stp))
        deals = sorted(eng.contracts.positions)
        target = data.draw(st.sampled_from(["deal", "deal", "time", "risk", "none"]), label="target")
        deal = rule = 0
        if target == "deal":
            deal = data.draw(st.sampled_from([*deals, 987654321]), label="deal")
        elif target != "none":
            rule = 1 if target == "time" else 2
        return ("place", C.Place(p, "TEST", contract, side, ptype, price, vol, coid, 2, 1, 0, 0, deal, rule,
                                 tif=tif, stp=stp))
    if kind == "pair":  # two products open opposite positions at one price: a sure trade
        contract = data.draw(st.sampled_from(CONTRACTS), label="contract")
        other = data.draw(st.sampled_from([q for q in PRODUCTS if q != p]), label="other")
        side, price, vol = data.draw(st.sampled_from([1, 2]), label="side"), _price(data), data.draw(
            st.integers(1, 8), label="vol")
        levers = [data.draw(st.sampled_from(LEVERS[:-2]), label="lever") for _ in range(2)]
        return ("pair", C.Place(p, "TEST", contract, side, 1, price, vol, "", 1, levers[0]),
                C.Place(other, "TEST", contract, 3 - side, 1, price, vol, "", 1, levers[1]))
    if kind == "far":  # resting liquidity far from the middle: closes into it lose beyond margins
        contract = data.draw(st.sampled_from(CONTRACTS), label="contract")
        side = data.draw(st.sampled_from([1, 2]), label="side")
        away = data.draw(st.integers(20, 150), label="away")
        fdir = data.draw(st.sampled_from([1, 1, 2]), label="fdir")
        return ("place", C.Place(p, "TEST", contract, side, 1, MID - away if side == 1 else MID + away,
                                 data.draw(st.integers(1, 12), label="vol"), "", fdir, 1, 0, 0, 0, 1))
    if kind == "cancel":
        pool = [*known_oids[-20:], 123456789]
        n = data.draw(st.integers(1, 3), label="n_ids")
        return ("cancel", C.Cancel(p, tuple(data.draw(st.sampled_from(pool), label="id") for _ in range(n))))
    if kind == "index":
        contract = data.draw(st.sampled_from(CONTRACTS), label="contract")
        return ("index", C.SetIndex("TEST", contract, MID + data.draw(st.integers(-120, 120), label="mark")))
    if kind == "rate":
        contract = data.draw(st.sampled_from(CONTRACTS[:2]), label="contract")
        rate = data.draw(st.sampled_from([-1_000_000, -12_345, 0, 10_000, 333_333, 1_000_000]), label="rate")
        return ("rate", C.SetFundingRate("TEST", contract, rate))
    if kind == "tick":
        return ("tick", C.Tick())
    cur = data.draw(st.sampled_from(sorted(FUND_CAP)), label="currency")
    amount = data.draw(st.integers(1, FUND_CAP[cur]), label="amount")
    if kind == "fund":
        return ("fund", C.Deposit(p, cur, amount), C.Transfer(p, cur, amount, 2, 4, "TEST"))
    return ("out", C.Transfer(p, cur, amount, 4, 2, "TEST"), C.Withdraw(p, cur, amount))


def run_stream(data: st.DataObject, eng: Engine, on_command: Callable[[C.Command, Any], None],
               max_ops: int = 60) -> list[tuple[C.Command, int, int]]:
    """Fund every product on the contract account, then apply up to ``max_ops`` random
    operations. ``on_command(cmd, result)`` sees the engine's result or the ErrorCode name.
    Returns the commands as applied: (cmd, seq, now)."""
    ops: list[tuple] = []
    for p in PRODUCTS:
        for cur, cap in sorted(FUND_CAP.items()):
            amount = data.draw(st.sampled_from([cap, cap // 2, cap // 10]), label="initial")
            ops.append(("fund", C.Deposit(p, cur, amount), C.Transfer(p, cur, amount, 2, 4, "TEST")))
    n = data.draw(st.integers(max_ops // 3, max_ops), label="n_ops")
    applied: list[tuple[C.Command, int, int]] = []
    known: list[int] = []
    seq, now = eng.seq, eng.now
    for i in range(len(ops) + n):
        op = ops[i] if i < len(ops) else draw_op(data, eng, known)
        for cmd in op[1:]:
            seq += 1
            if isinstance(cmd, C.Tick):
                now += data.draw(st.sampled_from(DTS), label="tick_dt")
            else:
                now += data.draw(st.integers(-5, 30), label="dt")  # the clock may step back
            try:
                result: Any = eng.apply(cmd, seq, now)
            except CeresError as exc:
                result = exc.error.name
            applied.append((cmd, seq, now))
            if isinstance(result, int) and isinstance(cmd, C.Place):
                known.append(result)
            elif isinstance(result, list):
                known.extend(result)
            on_command(cmd, result)
    return applied
