"""Shared helpers for contract tests: the TEST contracts of ``defaults/ceres.toml`` built
directly, a harness with contract conveniences, and an independent (``fractions``) model of
the liquidation condition.

Grids (all balances in minor units, 8 decimals for USDT and BTC):

* ``BTCUSDT_PERP`` / ``BTCUSDT_2703`` (linear): tick 0.1 USDT, lot 1 contract = 0.001 BTC,
  so one tick x one lot = 0.0001 USDT = ``10_000`` minor units (``notional_mult``).
  30000.0 USDT = ``300_000`` ticks; notional(10 lots, 300_000) = 300 USDT = ``3e10``.
* ``XBTUSD`` (inverse): tick 0.5 USD (``tick_units`` 5, one price decimal), lot 1 contract =
  1 USD, so notional(lots, p) = ``lots x 1e9 // (p x 5)`` satoshi (``inv_num`` = 1e9).
  40000 USD = ``80_000`` ticks; notional(100 lots, 80_000) = 1e11 // 400_000 = ``250_000`` sat.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ceres.domain import commands as C
from ceres.domain.enums import AccountType, Kind
from ceres.domain.instruments import RATE_SCALE, Instrument
from ceres.engine.positions import LONG, SHORT, Position
from engine_helpers import BUY, LIMIT, MARKET, SELL, T0, Harness

CONTRACT_T = int(AccountType.CONTRACT)
SETTLEMENT_T = int(AccountType.SETTLEMENT)
OPEN, CLOSE = 1, 2
TIME, RISK = 1, 2
FUNDING_MS = 28_800_000           # 8 h
EXPIRY_MS = T0 + 10_000_000       # the test dated contract expires ~2.8 h after T0
CURRENCIES = {"USDT": 8, "BTC": 8}
USDT = BTC = 10**8

__all__ = [
    "BTC",
    "BUY",
    "CLOSE",
    "EXPIRY_MS",
    "FUNDING_MS",
    "LIMIT",
    "LONG",
    "MARKET",
    "OPEN",
    "RISK",
    "SELL",
    "SHORT",
    "T0",
    "TIME",
    "USDT",
    "CHarness",
    "contract_harness",
    "dated",
    "equity_le_maint",
    "perp",
    "xbt",
]


def perp(funding_ms: int = FUNDING_MS, **kw: Any) -> Instrument:
    """BTCUSDT_PERP as configured: maker -0.025%, taker 0.075%, mmr 0.5%, max lever 100."""
    args = {"maker": "-0.00025", "taker": "0.00075", "rate": "0.0001"}
    args.update(kw)
    return Instrument("TEST", "BTCUSDT_PERP", Kind.PERPETUAL, "BTC", "USDT", "0.1", "1", "0.1", "1",
                      args["maker"], args["taker"], 8, 8, contract_value="0.001", max_lever=100,
                      maint_margin="0.005", funding_interval_ms=funding_ms, funding_rate=args["rate"])


def dated(expiry_ms: int = EXPIRY_MS) -> Instrument:
    """BTCUSDT_2703 as configured (maker -0.05%, taker 0.25%), with a near expiry."""
    return Instrument("TEST", "BTCUSDT_2703", Kind.DATED, "BTC", "USDT", "0.1", "1", "0.1", "1",
                      "-0.0005", "0.0025", 8, 8, contract_value="0.001", max_lever=100,
                      maint_margin="0.005", expiry_ms=expiry_ms)


def xbt(funding_ms: int = FUNDING_MS) -> Instrument:
    """XBTUSD as configured: inverse, settles in BTC, contract value 1 USD, tick 0.5."""
    return Instrument("TEST", "XBTUSD", Kind.PERPETUAL, "BTC", "USD", "0.5", "1", "0.5", "1",
                      "-0.00025", "0.00075", 8, 0, contract_value="1", inverse=True, max_lever=100,
                      maint_margin="0.005", funding_interval_ms=funding_ms, funding_rate="0.0001")


class CHarness(Harness):
    """Harness with contract conveniences. The first instrument is the default contract.
    Every accepted command is followed by ``engine.check()`` (consistency, conservation
    with fees, insurance and the open-PnL pool, open interest)."""

    def apply(self, cmd: C.Command, dt: int = 1) -> Any:
        result = super().apply(cmd, dt)
        problems = self.eng.check()
        assert problems == [], (cmd, problems)
        return result

    def fund_c(self, product: str, currency: str, amount: int) -> None:
        """Deposit into settlement and move it to the TEST contract account (type 4)."""
        self.apply(C.Deposit(product, currency, amount))
        self.apply(C.Transfer(product, currency, amount, SETTLEMENT_T, CONTRACT_T, "TEST"))
        self.eng.take_events()

    def place_c(self, product: str, side: int, price: int, vol: int, *, fdir: int = OPEN,
                lever: int = 10, ptype: int | None = None, contract: str | None = None,
                profit: int = 0, stop: int = 0, deal_id: int = 0, rule: int = 0,
                client_oid: str = "", dt: int = 1) -> Any:
        cmd = self.cmd(product, side, price, vol, fdir=fdir, lever=lever, ptype=ptype,
                       contract=contract, profit=profit, stop=stop, deal_id=deal_id, rule=rule,
                       client_oid=client_oid)
        return self.apply(cmd, dt)

    def cmd(self, product: str, side: int, price: int, vol: int, *, fdir: int = OPEN,
            lever: int = 10, ptype: int | None = None, contract: str | None = None,
            profit: int = 0, stop: int = 0, deal_id: int = 0, rule: int = 0,
            client_oid: str = "") -> C.Place:
        if ptype is None:
            ptype = LIMIT if price else MARKET
        return C.Place(product, "TEST", contract or self.inst.contract, side, ptype, price, vol,
                       client_oid, fdir, lever, profit, stop, deal_id, rule)

    def open_long(self, product: str, price: int, vol: int, **kw: Any) -> int:
        return self.place_c(product, BUY, price, vol, fdir=OPEN, **kw)

    def open_short(self, product: str, price: int, vol: int, **kw: Any) -> int:
        return self.place_c(product, SELL, price, vol, fdir=OPEN, **kw)

    def close_long(self, product: str, price: int, vol: int, **kw: Any) -> list[int]:
        return self.place_c(product, SELL, price, vol, fdir=CLOSE, **kw)

    def close_short(self, product: str, price: int, vol: int, **kw: Any) -> list[int]:
        return self.place_c(product, BUY, price, vol, fdir=CLOSE, **kw)

    def index(self, price: int, contract: str | None = None, dt: int = 1) -> None:
        self.apply(C.SetIndex("TEST", contract or self.inst.contract, price), dt)

    def tick(self, dt: int = 1) -> None:
        self.apply(C.Tick(), dt)

    # --- reading ----------------------------------------------------------------------
    def cbal(self, product: str, currency: str = "USDT") -> tuple[int, int]:
        """(total, frozen) in the TEST contract account."""
        return self.bal(product, currency, CONTRACT_T)

    def positions(self, product: str, contract: str | None = None) -> list[Position]:
        c = contract or self.inst.contract
        return sorted((p for p in self.eng.products[product].positions.values() if p.inst.contract == c),
                      key=lambda p: p.deal_id)

    def pos(self, deal_id: int) -> Position:
        return self.eng.contracts.positions[deal_id]

    def deal_of(self, oid: int) -> int:
        """dealId of the position opened by order ``oid`` (still open)."""
        (p,) = [p for p in self.eng.contracts.positions.values() if p.oid == oid]
        return p.deal_id

    def insurance(self, currency: str = "USDT") -> int:
        return self.eng.contracts.insurance.get(("TEST", currency), 0)

    def order(self, oid: int):
        return self.eng.open_orders.get(oid)


def contract_harness(*instruments: Instrument, products: tuple[str, ...] = ("alice", "bob", "carol", "dave"),
                     funds: dict[str, int] | None = None) -> CHarness:
    """A harness over ``instruments`` (default: PERP, XBTUSD, 2703) with funded contract
    accounts: 1000 USDT and 1 BTC each unless ``funds`` says otherwise."""
    insts = list(instruments) or [perp(), xbt(), dated()]
    h = CHarness(insts, CURRENCIES, products)
    for name in products:
        for cur, amount in (funds if funds is not None else {"USDT": 1000 * USDT, "BTC": 1 * BTC}).items():
            if amount:
                h.fund_c(name, cur, amount)
    return h


# --- independent model of the liquidation condition ---------------------------------------
def exact_notional(inst: Instrument, lots: int, price: int) -> Fraction:
    """Settle-currency notional without any rounding."""
    if inst.inverse:
        return Fraction(lots * inst.inv_num, price * inst.tick_units)
    return Fraction(price * lots * inst.notional_mult)


def equity_le_maint(inst: Instrument, side: int, vol: int, cost: int, margin: int, mark: int) -> bool:
    """``margin + PnL(mark) <= mmr x notional(mark)``, exactly (the docstring's definition)."""
    n = exact_notional(inst, vol, mark)
    long_gain = (side == LONG) != inst.inverse
    pnl = n - cost if long_gain else cost - n
    return margin + pnl <= Fraction(inst.maint_rate, RATE_SCALE) * n
