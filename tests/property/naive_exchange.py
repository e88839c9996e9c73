"""A deliberately naive spot exchange: the reference the engine is checked against.

Everything is the obvious way: resting orders in one plain list in arrival order, the
counter-orders a taker reaches found by a linear scan and sorted (best price, then
earliest) afresh before each fill, frozen amounts recomputed from the open orders instead
of being tracked, grids derived from the spec strings with ``Decimal``. The rules are
API.md section 6 and the spot module docstring:

* limit buy keeps frozen ``remaining x price`` (limit price) plus the fee reserve
  ``floor(vol x price x max(maker, taker, 0))`` less the positive fees it has paid;
* a sell keeps its remaining base frozen; a market buy's budget never outlives its command;
* fees per (order, role) are ``floor(cumulative x rate)`` differences, rebates floored in
  magnitude; market buys pay their (taker) fee in base, everyone else in quote.

Time in force (``tif``; 0 = GTC for a limit order, IOC for a market order), checked after
the price and volume, before the funds:

* GTC: the unfilled rest of a limit order rests; IOC: it ends (EXPIRED, 15 or 14);
* FOK: before matching, the crossing orders are listed and their lots added up; if they
  cannot fill the whole volume the order does not match at all (EXPIRED, 15);
* POST_ONLY (limit only): if any opposite order crosses its price it is refused
  (``POST_ONLY_WOULD_TAKE``, before the funds are checked, nothing changes); else like GTC;
* a market order is IOC or FOK, a market buy IOC only; anything else is ``INVALID_VALUE``.

Self-trade prevention (``stp`` of the incoming order, checked after the time in force;
not 0..3: ``INVALID_VALUE``): when the best crossing order belongs to the taker's own
product, ``stp`` is not NONE and they would trade (a market buy affords one lot of it),
they do not trade (no fill, no fee). CANCEL_MAKER / CANCEL_BOTH cancel that resting order
(CANCELLED, 15 or 14, reason ``STP_REASON``); CANCEL_TAKER / CANCEL_BOTH then end the
taker (CANCELLED, 15 or 14, same reason; even a GTC does not rest); CANCEL_MAKER goes on
with the next best order. A FOK counts the crossing orders in priority order, skipping
its own (CANCEL_MAKER) or giving up at the first own one (CANCEL_TAKER, CANCEL_BOTH), so
it never cancels a maker unless it fills completely.

Results: ``("new", nid)``, ``("dup", nid)`` or an ``ErrorCode`` name; ``nid`` numbers
orders 0, 1, 2... in creation order. Events are plain tuples (see ``_event``/``_fill``):
``("o", nid, kind, status, filled, dealt, commission, deal_vol, deal_price, reason)`` and
``("t", price, lots, maker nid, taker nid, maker fee, taker fee, taker side)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

SCALE = 10**8
MAX_TICKS = MAX_LOTS = 10**15
BUY, SELL, LIMIT, MARKET = 1, 2, 1, 2
DEFAULT, GTC, IOC, FOK, POST_ONLY = 0, 1, 2, 3, 4  # time in force
STP_NONE, CANCEL_TAKER, CANCEL_MAKER, CANCEL_BOTH = 0, 1, 2, 3
ACCEPTED, FILL, CANCELLED, EXPIRED = 1, 3, 4, 5  # order event kinds
STP_REASON = "42005 self-trade prevented"


@dataclass
class Spec:
    contract: str
    tick: str
    lot: str
    min_price: str
    min_volume: str
    maker: str
    taker: str

    @property
    def base(self) -> str:
        return self.contract.split("/")[0]

    @property
    def quote(self) -> str:
        return self.contract.split("/")[1]


@dataclass
class NInst:
    spec: Spec
    decimals: dict[str, int]

    def __post_init__(self) -> None:
        s = self.spec
        self.base, self.quote = s.base, s.quote
        mult = Decimal(s.tick) * Decimal(s.lot) * 10 ** self.decimals[self.quote]
        base_mult = Decimal(s.lot) * 10 ** self.decimals[self.base]
        assert mult == int(mult) and base_mult == int(base_mult)
        self.mult, self.base_mult = int(mult), int(base_mult)
        self.min_ticks = int(Decimal(s.min_price) / Decimal(s.tick))
        self.min_lots = int(Decimal(s.min_volume) / Decimal(s.lot))
        self.rate = {"maker": int(Decimal(s.maker) * SCALE), "taker": int(Decimal(s.taker) * SCALE)}
        self.freeze_rate = max(0, *self.rate.values())


@dataclass
class NOrder:
    nid: int
    product: str
    inst: NInst
    side: int
    ptype: int
    price: int
    vol: int  # lots; a market buy: quote budget
    coid: str
    tif: int = GTC
    stp: int = STP_NONE
    filled: int = 0
    dealt: int = 0
    commission: int = 0
    status: int = 3
    basis: dict = field(default_factory=lambda: {"maker": 0, "taker": 0})
    positive_fees: int = 0
    spent: int = 0  # market buy: quote spent so far

    @property
    def remaining(self) -> int:
        return self.vol - self.filled

    def frozen(self) -> tuple[str, int]:
        """(currency, amount) this open order keeps frozen."""
        inst = self.inst
        if self.side == SELL:
            return inst.base, self.remaining * inst.base_mult
        reserve = self.vol * self.price * inst.mult * inst.freeze_rate // SCALE
        return inst.quote, self.remaining * self.price * inst.mult + reserve - self.positive_fees


class NaiveExchange:
    def __init__(self, specs: list[Spec], decimals: dict[str, int]) -> None:
        self.insts = {s.contract: NInst(s, decimals) for s in specs}
        self.spot: dict[tuple[str, str], int] = {}
        self.settle: dict[tuple[str, str], int] = {}
        self.fees: dict[str, int] = {}
        self.resting: list[NOrder] = []  # arrival order
        self.next_nid = 0
        self.events: list[tuple] = []

    # --- balances ------------------------------------------------------------------------
    def frozen(self, product: str, cur: str) -> int:
        total = 0
        for o in self.resting:
            c, amount = o.frozen()
            if o.product == product and c == cur:
                total += amount
        return total

    def available(self, product: str, cur: str) -> int:
        return self.spot.get((product, cur), 0) - self.frozen(product, cur)

    def _add(self, book: dict, key: tuple[str, str], amount: int) -> None:
        book[key] = book.get(key, 0) + amount

    def balances(self) -> dict[tuple, tuple[int, int]]:
        """{(product, venue, type, currency): (total, frozen)} without all-zero entries."""
        out = {}
        for (p, cur), total in self.spot.items():
            out[(p, "TEST", 3, cur)] = (total, self.frozen(p, cur))
        for (p, cur), total in self.settle.items():
            out[(p, "", 2, cur)] = (total, 0)
        return {k: v for k, v in out.items() if v != (0, 0)}

    def book(self, contract: str) -> list[tuple[int, int]]:
        """(nid, remaining) in priority order: bids best first, then asks best first."""
        def key(o: NOrder):
            return (o.side, -o.price if o.side == BUY else o.price, self.resting.index(o))
        return [(o.nid, o.remaining) for o in sorted(
            (o for o in self.resting if o.inst.spec.contract == contract), key=key)]

    # --- funds ---------------------------------------------------------------------------
    def deposit(self, p: str, cur: str, amount: int):
        if amount <= 0:
            return "INVALID_DECIMAL"
        self._add(self.settle, (p, cur), amount)
        return self.settle[(p, cur)]

    def withdraw(self, p: str, cur: str, amount: int):
        if amount <= 0:
            return "INVALID_DECIMAL"
        if self.settle.get((p, cur), 0) < amount:
            return "INSUFFICIENT_BALANCE"
        self._add(self.settle, (p, cur), -amount)
        return self.settle[(p, cur)]

    def to_spot(self, p: str, cur: str, amount: int):
        if amount <= 0:
            return "INVALID_DECIMAL"
        if self.settle.get((p, cur), 0) < amount:
            return "INSUFFICIENT_BALANCE"
        self._add(self.settle, (p, cur), -amount)
        self._add(self.spot, (p, cur), amount)
        return self.settle[(p, cur)]

    def to_settle(self, p: str, cur: str, amount: int):
        if amount <= 0:
            return "INVALID_DECIMAL"
        if self.available(p, cur) < amount:
            return "INSUFFICIENT_BALANCE"
        self._add(self.spot, (p, cur), -amount)
        self._add(self.settle, (p, cur), amount)
        return self.spot[(p, cur)]

    # --- trading -------------------------------------------------------------------------
    def place(self, p: str, contract: str, side: int, ptype: int, price: int, vol: int, coid: str,
              tif: int = DEFAULT, stp: int = STP_NONE):
        inst = self.insts[contract]
        if coid:
            for o in self.resting:
                if o.product == p and o.coid == coid:
                    return ("dup", o.nid)
        if ptype == LIMIT:
            if not inst.min_ticks <= price <= MAX_TICKS:
                return "PRICE_OUT_OF_RANGE"
        else:
            price = 0
        if side == BUY and ptype == MARKET:
            if vol <= 0:
                return "VOLUME_OUT_OF_RANGE"
            cur, need = inst.quote, vol
        else:
            if not inst.min_lots <= vol <= MAX_LOTS:
                return "VOLUME_OUT_OF_RANGE"
            if side == BUY:
                notional = price * vol * inst.mult
                cur, need = inst.quote, notional + notional * inst.freeze_rate // SCALE
            else:
                cur, need = inst.base, vol * inst.base_mult
        if tif == DEFAULT:
            tif = GTC if ptype == LIMIT else IOC
        elif ptype == LIMIT:
            if tif not in (GTC, IOC, FOK, POST_ONLY):
                return "INVALID_VALUE"
        elif not (tif == IOC or (tif == FOK and side == SELL)):
            return "INVALID_VALUE"
        if stp not in (STP_NONE, CANCEL_TAKER, CANCEL_MAKER, CANCEL_BOTH):
            return "INVALID_VALUE"
        order = NOrder(self.next_nid, p, inst, side, ptype, price, vol, coid, tif, stp)
        if tif == POST_ONLY and self._crossing(order):
            return "POST_ONLY_WOULD_TAKE"
        if self.available(p, cur) < need:
            return "INSUFFICIENT_BALANCE"
        self.next_nid += 1
        self._event(order, ACCEPTED)
        if tif == FOK and not self._fok_fills(order):
            exhausted, stopped = True, False
        else:
            exhausted, stopped = self._match(order)
        if stopped:  # self-trade prevention ended it
            order.status = 14 if order.filled else 15
            self._event(order, CANCELLED, reason=STP_REASON)
        elif order.status == 5:
            pass
        elif tif in (GTC, POST_ONLY):
            self.resting.append(order)
        else:
            if order.filled == 0:
                order.status = 15
            elif ptype == MARKET and side == BUY and not exhausted:
                order.status = 5
            else:
                order.status = 14
            self._event(order, EXPIRED)
        return ("new", order.nid)

    def _crossing(self, taker: NOrder) -> list[NOrder]:
        """The resting orders ``taker`` reaches (its instrument, the other side, within its
        limit), in the order it meets them: best price first, then earliest."""
        found = []
        for o in self.resting:
            if o.inst is not taker.inst or o.side == taker.side:
                continue
            if taker.ptype == LIMIT and (o.price > taker.price if taker.side == BUY else o.price < taker.price):
                continue
            found.append(o)
        return sorted(found, key=lambda o: (o.price if taker.side == BUY else -o.price, self.resting.index(o)))

    def _fok_fills(self, taker: NOrder) -> bool:
        """Whether the orders a FOK may take hold its whole volume."""
        lots = 0
        for o in self._crossing(taker):
            if o.product == taker.product and taker.stp != STP_NONE:
                if taker.stp == CANCEL_MAKER:
                    continue
                return False
            lots += o.remaining
            if lots >= taker.vol:
                return True
        return False

    def _match(self, taker: NOrder) -> tuple[bool, bool]:
        """Fill ``taker`` against the book. Returns (eligible liquidity ran out before the
        taker was done, self-trade prevention stopped the taker)."""
        inst = taker.inst
        while True:
            crossing = self._crossing(taker)
            if not crossing:
                return True, False
            best = crossing[0]
            own = best.product == taker.product and taker.stp != STP_NONE
            if taker.ptype == MARKET and taker.side == BUY:  # no lot affordable: no match at all
                lots = min(best.remaining, (taker.vol - taker.spent) // (best.price * inst.mult))
                if lots == 0:
                    return False, False
            else:
                lots = min(best.remaining, taker.remaining)
            if own:
                if taker.stp in (CANCEL_MAKER, CANCEL_BOTH):
                    self.resting.remove(best)
                    best.status = 14 if best.filled else 15
                    self._event(best, CANCELLED, reason=STP_REASON)
                if taker.stp in (CANCEL_TAKER, CANCEL_BOTH):
                    return False, True
                continue
            self._fill(best, taker, lots)
            if best.remaining == 0:
                self.resting.remove(best)
            if taker.status == 5:
                return False, False

    def _fee(self, order: NOrder, role: str, amount: int) -> int:
        rate = order.inst.rate[role]
        before = order.basis[role]
        after = order.basis[role] = before + amount
        if rate >= 0:
            fee = after * rate // SCALE - before * rate // SCALE
            order.positive_fees += fee
        else:
            fee = -(after * -rate // SCALE - before * -rate // SCALE)
        order.commission += fee
        return fee

    def _fill(self, maker: NOrder, taker: NOrder, lots: int) -> None:
        inst, price = maker.inst, maker.price
        notional = price * lots * inst.mult
        base_amt = lots * inst.base_mult
        buyer, seller = (taker, maker) if taker.side == BUY else (maker, taker)
        role = {id(maker): "maker", id(taker): "taker"}
        fee_s = self._fee(seller, role[id(seller)], notional)
        self._add(self.spot, (seller.product, inst.base), -base_amt)
        self._add(self.spot, (seller.product, inst.quote), notional - fee_s)
        self.fees[inst.quote] = self.fees.get(inst.quote, 0) + fee_s
        if buyer.ptype == LIMIT:
            fee_b = self._fee(buyer, role[id(buyer)], notional)
            self._add(self.spot, (buyer.product, inst.quote), -(notional + fee_b))
            self._add(self.spot, (buyer.product, inst.base), base_amt)
            self.fees[inst.quote] += fee_b
        else:
            fee_b = self._fee(buyer, "taker", base_amt)
            buyer.spent += notional
            self._add(self.spot, (buyer.product, inst.quote), -notional)
            self._add(self.spot, (buyer.product, inst.base), base_amt - fee_b)
            self.fees[inst.base] = self.fees.get(inst.base, 0) + fee_b
        for o in (maker, taker):
            o.filled += lots
            o.dealt += price * lots
            done = o.filled == o.vol and not (o.ptype == MARKET and o.side == BUY)
            o.status = 5 if done else 4
            self._event(o, FILL, lots, price)
        fees = {id(buyer): fee_b, id(seller): fee_s}
        self.events.append(("t", price, lots, maker.nid, taker.nid, fees[id(maker)],
                            fees[id(taker)], taker.side))

    def cancel(self, p: str, nids: list[int | None]) -> tuple[list[int], list[int]]:
        """Indices into ``nids`` that succeeded / failed (None = unknown id)."""
        ok, failed = [], []
        for i, nid in enumerate(nids):
            order = next((o for o in self.resting if o.nid == nid), None)
            if order is None or order.product != p:
                failed.append(i)
                continue
            self.resting.remove(order)
            order.status = 14 if order.filled else 15
            self._event(order, CANCELLED)
            ok.append(i)
        return ok, failed

    def _event(self, o: NOrder, kind: int, deal_vol: int = 0, deal_price: int = 0, reason: str = "") -> None:
        self.events.append(("o", o.nid, kind, o.status, o.filled, o.dealt, o.commission, deal_vol, deal_price,
                            reason))
