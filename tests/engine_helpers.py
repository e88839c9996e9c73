"""Shared helpers for engine tests: instruments, a harness that stamps seq/time, and
integrity checks (consistency, conservation, snapshot round trip)."""

from __future__ import annotations

from typing import Any

import msgspec

from ceres.domain import commands as C
from ceres.domain.enums import AccountType, Kind, PriceType, Side
from ceres.domain.errors import CeresError
from ceres.domain.events import OrderEvent, TradeEvent
from ceres.domain.instruments import Instrument
from ceres.domain.secret import secret_dec_hook, secret_enc_hook
from ceres.engine.core import Engine
from ceres.engine.snapshot import engine_state, restore_engine

T0 = 1_760_000_000_000  # 2025-10-09, ms
BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT, MARKET = int(PriceType.LIMIT), int(PriceType.MARKET)
SPOT, SETTLEMENT = int(AccountType.SPOT), int(AccountType.SETTLEMENT)
USDT = 10**8  # minor units of one USDT (8 decimals in the default harness)
BTC = 10**8  # satoshi per BTC
BINANCE_SPOT = C.DefineInstrument("BINANCE", "BTC/USDT", "BTC", "USDT", "0.01", "0.00001", "0.01", "0.00001", "0.001",
                                  "0.001", 8, 8)
"""A live venue's market as the journal defines it: tick 0.01 USDT, lot 0.00001 BTC, fees 0.1%."""


def spot(contract: str = "BTC/USDT", tick: str = "0.01", lot: str = "0.0001",
         min_price: str | None = None, min_volume: str | None = None,
         maker: str = "0.0005", taker: str = "0.0005", base_dec: int = 8, quote_dec: int = 8,
         exchange: str = "TEST") -> Instrument:
    base, quote = contract.split("/")
    return Instrument(exchange, contract, Kind.SPOT, base, quote, tick, lot,
                      min_price or tick, min_volume or lot, maker, taker, base_dec, quote_dec)


class Harness:
    """An engine plus a sequencer stand-in: every command gets the next seq and a time."""

    def __init__(self, instruments: list[Instrument], currencies: dict[str, int],
                 products: tuple[str, ...] = ("alice", "bob", "carol")) -> None:
        self.instruments = list(instruments)
        self.currencies = dict(currencies)
        self.eng = Engine(self.instruments, self.currencies)
        self.seq = 0
        self.now = T0
        self.inst = self.instruments[0]
        for name in products:
            self.apply(C.CreateProduct(name))
        self.eng.take_events()

    # --- commands ----------------------------------------------------------------------
    def apply(self, cmd: C.Command, dt: int = 1) -> Any:
        self.seq += 1
        self.now += dt
        return self.eng.apply(cmd, self.seq, self.now)

    def reject(self, cmd: C.Command) -> CeresError:
        """Apply ``cmd`` expecting a rejection that changes nothing at all."""
        before = self.eng.state_hash()
        accounts = {n: {k: sorted(a.balances) for k, a in p.accounts.items()}
                    for n, p in self.eng.products.items()}
        last_id = self.eng.ids.last
        n_events = len(self.eng.events)
        try:
            self.apply(cmd)
        except CeresError as exc:
            err = exc
        else:
            raise AssertionError(f"{cmd!r} was accepted")
        assert self.eng.state_hash() == before, "rejected command changed the state"
        after = {n: {k: sorted(a.balances) for k, a in p.accounts.items()}
                 for n, p in self.eng.products.items()}
        assert after == accounts, "rejected command created accounts or balance entries"
        assert self.eng.ids.last == last_id
        assert len(self.eng.events) == n_events, "rejected command emitted events"
        return err

    def fund(self, product: str, currency: str, amount: int, exchange: str = "TEST") -> None:
        """Deposit into settlement and move it to the spot account."""
        self.apply(C.Deposit(product, currency, amount))
        self.apply(C.Transfer(product, currency, amount, SETTLEMENT, SPOT, exchange))
        self.eng.take_events()

    def place(self, product: str, side: int, price: int, vol: int, ptype: int = LIMIT,
              contract: str | None = None, client_oid: str = "", exchange: str = "TEST") -> int:
        return self.apply(C.Place(product, exchange, contract or self.inst.contract, side, ptype,
                                  price, vol, client_oid))

    def buy(self, product: str, price: int, vol: int, **kw: Any) -> int:
        return self.place(product, BUY, price, vol, **kw)

    def sell(self, product: str, price: int, vol: int, **kw: Any) -> int:
        return self.place(product, SELL, price, vol, **kw)

    def market_buy(self, product: str, budget: int, **kw: Any) -> int:
        return self.place(product, BUY, 0, budget, ptype=MARKET, **kw)

    def market_sell(self, product: str, vol: int, **kw: Any) -> int:
        return self.place(product, SELL, 0, vol, ptype=MARKET, **kw)

    def cancel(self, product: str, *ids: int):
        return self.apply(C.Cancel(product, tuple(ids)))

    # --- reading state -----------------------------------------------------------------
    def bal(self, product: str, currency: str, type_: int = SPOT, exchange: str = "TEST") -> tuple[int, int]:
        """(total, frozen) of one balance; (0, 0) when it does not exist."""
        venue = "" if type_ == SETTLEMENT else exchange
        acc = self.eng.products[product].accounts.get((venue, type_))
        b = acc.balances.get(currency) if acc else None
        return (b.total, b.frozen) if b else (0, 0)

    def order_events(self) -> list[OrderEvent]:
        return [e for e in self.eng.events if isinstance(e, OrderEvent)]

    def trades(self) -> list[TradeEvent]:
        return [e for e in self.eng.events if isinstance(e, TradeEvent)]

    def statuses(self, oid: int) -> list[int]:
        return [e.status for e in self.order_events() if e.spec.oid == oid]

    def final_status(self, oid: int) -> int:
        return self.statuses(oid)[-1]

    def resting(self, contract: str | None = None) -> list[tuple[int, int, int, int]]:
        """(oid, side, price, remaining lots) in book priority order."""
        book = self.eng.books[("TEST", contract or self.inst.contract)]
        return [(o.oid, o.side, o.price, o.vol - o.filled) for o in book.resting()]

    def fees(self, currency: str, exchange: str = "TEST") -> int:
        return self.eng.ledger.fees.get((exchange, currency), 0)

    # --- integrity ---------------------------------------------------------------------
    def verify(self) -> None:
        """Consistency check plus a snapshot round trip that must reproduce the hash."""
        assert self.eng.check() == []
        twin = restored_copy(self.eng, self.instruments, self.currencies)
        assert twin.state_hash() == self.eng.state_hash()
        assert twin.check() == []


def restored_copy(eng: Engine, instruments: list[Instrument], currencies: dict[str, int]) -> Engine:
    """A new engine restored from ``eng``'s state after a MessagePack round trip."""
    data = msgspec.msgpack.encode(engine_state(eng), enc_hook=secret_enc_hook)
    state = msgspec.msgpack.decode(data, dec_hook=secret_dec_hook)
    twin = Engine(instruments, currencies)
    restore_engine(twin, state)
    return twin


def btc_usdt_harness(**kw: Any) -> Harness:
    """TEST BTC/USDT, tick 0.01, lot 0.0001, fees 0.05%, both currencies 8 decimals.

    Grid: 1 tick x 1 lot = 0.000001 USDT = 100 minor units (``notional_mult``);
    1 lot = 10_000 satoshi (``base_mult``). 30000.00 USDT = 3_000_000 ticks.
    """
    return Harness([spot(**kw)], {"BTC": 8, "USDT": 8})
