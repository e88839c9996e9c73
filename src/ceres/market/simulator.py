"""Liquidity simulator: makes the TEST markets feel alive out of the box.

It trades as its own product (``[simulator] product``, no API key) through the same
sequencer as any client, so everything it does is journaled, replayable and visible in
market data. Per configured market, every ``interval_ms``:

* a reference price moves as a seeded random walk (log-normal steps of ``volatility``,
  with a weak pull back to the start price so it cannot drift away over days);
* contracts get the reference as their index price (``SetIndex``), which is their mark;
* a market maker quotes ``levels`` bids and asks of ``size`` around the reference
  (``spread_ticks`` apart at the touch, ``level_ticks`` between levels), re-quoting when
  the reference has moved a level or every ``requote_every`` steps;
* with probability ``activity`` a taker sends a market order of up to ``size``.

On contracts the simulator prefers closing orders (``close_rule`` time) whenever it holds
positions on the side an order would close, so its own positions stay few: with only
itself trading, closes meet closes. It trades at lever 1.

Randomness comes from ``random.Random(seed)``; prices it sends are exact ticks. The
simulator is a client: nothing it does bypasses validation.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ceres.domain import commands as C
from ceres.domain.enums import FutureDir, PriceType, Side
from ceres.domain.errors import CeresError
from ceres.domain.instruments import Instrument
from ceres.domain.money import to_scaled
from ceres.engine.positions import LONG, SHORT

log = logging.getLogger("ceres.simulator")
BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT, MARKET = int(PriceType.LIMIT), int(PriceType.MARKET)
OPEN, CLOSE = int(FutureDir.OPEN), int(FutureDir.CLOSE)


@dataclass
class SimMarket:
    inst: Instrument
    ref: float          # ticks
    start: float        # ticks
    size: int           # lots per quote level
    volatility: float
    spread: int         # ticks between best bid and best ask
    level: int          # ticks between levels
    levels: int
    activity: float
    quoted_at: float = 0.0
    steps: int = 0
    quotes: list[int] = field(default_factory=list)


class Simulator:
    def __init__(self, engine: Any, submit: Callable[[C.Command], Awaitable[Any]], cfg: Any,
                 markets: list[SimMarket]) -> None:
        self.engine = engine
        self.submit = submit
        self.product = cfg.product
        self.interval = cfg.interval_ms / 1000
        self.requote_every = cfg.requote_every
        self.funds = dict(cfg.funds)
        self.rng = random.Random(cfg.seed)
        self.markets = markets
        self._task: asyncio.Task[None] | None = None
        self.commands = 0
        self.rejected = 0

    @classmethod
    def from_config(cls, engine: Any, submit: Callable[[C.Command], Awaitable[Any]], cfg: Any) -> Simulator:
        markets = []
        for mc in cfg.markets:
            inst = engine.instruments.get((mc.exchange, mc.contract))
            if inst is None:
                raise ValueError(f"simulator market {mc.exchange} {mc.contract} is not an instrument")
            ref = inst.price_to_ticks(mc.price, "price")
            markets.append(SimMarket(inst, float(ref), float(ref), inst.vol_to_lots(mc.size, "size"),
                                     float(mc.volatility), mc.spread_ticks, mc.level_ticks, mc.levels,
                                     float(mc.activity)))
        return cls(engine, submit, cfg, markets)

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await self._fund()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _fund(self) -> None:
        """Create the product and top its accounts up to the configured funds (deposits
        flagged ``topup``: the money audit counts them apart from users' deposits)."""
        eng = self.engine
        if self.product not in eng.products:
            await self.submit(C.CreateProduct(self.product))
        product = eng.products[self.product]
        exchanges = sorted({m.inst.exchange for m in self.markets})
        for exchange in exchanges:
            for type_ in (3, 4):
                for currency, amount in self.funds.items():
                    target = to_scaled(amount, eng.currencies[currency], "funds")
                    bal = product.balance(exchange, type_, currency)
                    have = 0 if bal is None else bal.total
                    if have < target // 2:
                        await self.submit(C.Deposit(self.product, currency, target - have, topup=True))
                        await self.submit(C.Transfer(self.product, currency, target - have, 2, type_, exchange))

    async def _run(self) -> None:
        while True:
            for m in self.markets:
                try:
                    await self.step(m)
                except CeresError as err:
                    self.rejected += 1
                    log.debug("simulator order refused: %s", err)
                except Exception:
                    log.exception("simulator step failed")
            await asyncio.sleep(self.interval)

    async def _send(self, cmd: C.Command) -> Any:
        self.commands += 1
        return await self.submit(cmd)

    # --- one step ---------------------------------------------------------------------------
    async def step(self, m: SimMarket) -> None:
        inst = m.inst
        rng = self.rng
        pull = -0.001 * math.log(m.ref / m.start)
        m.ref = max(m.ref * math.exp(m.volatility * rng.gauss(0.0, 1.0) + pull), float(inst.min_price_ticks))
        ref = max(round(m.ref), inst.min_price_ticks)
        if inst.is_contract:
            await self._send(C.SetIndex(inst.exchange, inst.contract, ref))
        m.steps += 1
        if abs(ref - m.quoted_at) >= m.level or m.steps % self.requote_every == 1 or not m.quotes:
            await self._requote(m, ref)
        if rng.random() < m.activity:
            await self._take(m, ref)

    async def _requote(self, m: SimMarket, ref: int) -> None:
        inst = m.inst
        open_ids = [oid for oid in m.quotes if oid in self.engine.open_orders]
        for i in range(0, len(open_ids), 15):
            await self._send(C.Cancel(self.product, tuple(open_ids[i:i + 15])))
        m.quotes = []
        m.quoted_at = ref
        half = max(1, m.spread // 2)
        orders = []
        for k in range(m.levels):
            for side, price in ((BUY, ref - half - k * m.level), (SELL, ref + half + k * m.level)):
                if price >= inst.min_price_ticks:
                    lots = max(inst.min_volume_lots, int(m.size * (0.5 + self.rng.random())))
                    orders.append(self._order(inst, side, LIMIT, price, lots))
        # submitted together: one journal batch; each is applied (and reserves what it
        # closes) as its task starts, so later orders see earlier ones
        for result in await asyncio.gather(*orders, return_exceptions=True):
            if isinstance(result, BaseException):
                self.rejected += 1
            else:
                m.quotes.extend(result if isinstance(result, list) else [result])

    async def _take(self, m: SimMarket, ref: int) -> None:
        inst = m.inst
        side = BUY if self.rng.random() < 0.5 else SELL
        lots = max(inst.min_volume_lots, int(m.size * self.rng.random()))
        if not inst.is_contract and side == BUY:
            # a spot market buy spends quote: about lots at the reference, with headroom
            budget = inst.notional_mult * ref * lots * 101 // 100
            await self._send(C.Place(self.product, inst.exchange, inst.contract, BUY, MARKET, 0, budget))
            return
        await self._order(inst, side, MARKET, 0, lots)

    async def _order(self, inst: Instrument, side: int, ptype: int, price: int, lots: int) -> Any:
        if not inst.is_contract:
            return await self._send(C.Place(self.product, inst.exchange, inst.contract, side, ptype, price, lots))
        if self._closable(inst, side) >= lots:
            return await self._send(C.Place(self.product, inst.exchange, inst.contract, side, ptype, price,
                                            lots, "", CLOSE, 1, 0, 0, 0, 1))
        return await self._send(C.Place(self.product, inst.exchange, inst.contract, side, ptype, price,
                                        lots, "", OPEN, 1))

    def _closable(self, inst: Instrument, side: int) -> int:
        """Lots of the simulator's positions an order on ``side`` could still close."""
        product = self.engine.products[self.product]
        closes = LONG if side == SELL else SHORT
        return sum(p.vol - p.closing for p in product.positions.values()
                   if p.inst is inst and p.side == closes)
