"""An in-process gateway rig: the engine over the default configuration's instruments,
venues whose ``submit`` applies each command at once (no journal, no sockets), the
recent-orders cache fed like the dispatcher feeds it, an empty history store and
:class:`~ceres.gateway.handlers.Handlers` over all of it.

Besides the configured TEST venue there is a second one, ``ALT`` (one spot pair), so that
exchange filters have something to leave out.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ceres.config import load_config
from ceres.domain import commands as C
from ceres.domain.enums import AccountType, Kind, Permission
from ceres.domain.errors import CeresError
from ceres.domain.instruments import Instrument
from ceres.engine.core import Engine
from ceres.engine.ledger import ApiKey
from ceres.gateway.handlers import Handlers
from ceres.gateway.recent import RecentOrders
from ceres.pipeline.dispatch import Dispatcher
from ceres.pipeline.history import FillRow, OrderRow
from ceres.pipeline.venue import VenueRegistry
from ceres.venues.simulated import ReportFeed, SimulatedVenue
from engine_helpers import T0

SETTLEMENT, SPOT, CONTRACT = int(AccountType.SETTLEMENT), int(AccountType.SPOT), int(AccountType.CONTRACT)
READ, TRADE = int(Permission.READ), int(Permission.TRADE)
ONE = 10**8  # minor units of one USDT / BTC (8 decimals in the default config)
SECRET = "S" * 32

ORDER_KEYS = {"system_oid", "client_oid", "contract", "entrust_bs", "future_dir", "entrust_price",
              "entrust_amount", "entrust_time", "average_dealt_price", "dealt_amount", "status", "lever",
              "profit_value", "stop_value", "commission"}
POSITION_KEYS = {"dealId", "exchange", "contract", "position_dir", "vol", "margin", "open_price",
                 "position_value", "force_price", "lever", "close_profit", "position_profit"}
CONFIG = load_config(env={}, overrides={"demo": {"enabled": False}})
ALT_PAIR = Instrument("ALT", "BTC/USDT", Kind.SPOT, "BTC", "USDT", "0.01", "0.0001", "0.01", "0.0001",
                      "0.0005", "0.0005", 8, 8)


class FakeHistory:
    """The history store with nothing in it (every order the tests ask about is still in
    the engine or the recent-orders cache); records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def orders_by_ids(self, product: str, ids: list[int]) -> dict[int, OrderRow]:
        self.calls.append(("orders_by_ids", ids))
        return {}

    def order_owner(self, oid: int) -> str | None:
        self.calls.append(("order_owner", oid))
        return None

    def recent_orders(self, product: str, *, exchange: str | None = None, contract: str | None = None,
                      status: int | None = None, limit: int = 100) -> list[OrderRow]:
        self.calls.append(("recent_orders", limit))
        return []

    def fills(self, product: str, exchange: str, contract: str, count: int) -> list[FillRow]:
        self.calls.append(("fills", count))
        return []


class Rig:
    """Products ``alice`` and ``bob`` with read+trade keys, ``reader`` with a read-only key."""

    def __init__(self) -> None:
        self.instruments = [*CONFIG.build_instruments(), ALT_PAIR]
        self.engine = Engine(self.instruments, dict(CONFIG.currencies))
        self.seq = 0
        self.now = T0
        self.recent = RecentOrders()
        feed = ReportFeed()
        self.dispatcher = Dispatcher([self.recent.subscription(), feed.subscription()])
        self.history = FakeHistory()
        self.caught_up_calls = 0
        self.venues = VenueRegistry([SimulatedVenue(x, self.engine, self.submit, feed) for x in ("TEST", "ALT")],
                                    locate=self._locate)
        self.handlers = Handlers(self.engine, self.venues, self.history, self._caught_up, self.recent,
                                 submit=self.submit, last_price=lambda exchange, contract: None, tz=CONFIG.tz,
                                 base_currency=CONFIG.server.base_currency)
        self.keys: dict[str, ApiKey] = {}
        for n, (name, perms) in enumerate((("alice", READ | TRADE), ("bob", READ | TRADE), ("reader", READ))):
            self.apply(C.CreateProduct(name))
            api_key = f"key{n}".ljust(16, "x")
            self.apply(C.CreateKey(name, api_key, SECRET, perms))
            self.keys[name] = self.engine.keys[api_key]

    def _locate(self, oid: int) -> str | None:
        order = self.engine.open_orders.get(oid)
        return None if order is None else order.inst.exchange

    async def _caught_up(self) -> None:
        self.caught_up_calls += 1

    def apply(self, cmd: C.Command) -> Any:
        """Apply a command now and hand its events to the consumers."""
        self.seq += 1
        self.now += 1
        result = self.engine.apply(cmd, self.seq, self.now)
        self.dispatcher.dispatch([(self.seq, self.engine.take_events())])
        return result

    def submit(self, cmd: C.Command) -> asyncio.Future[Any]:
        """The sequencer's contract: a future with the result, or the rejection."""
        fut = asyncio.get_running_loop().create_future()
        try:
            fut.set_result(self.apply(cmd))
        except CeresError as exc:
            fut.set_exception(exc)
        return fut

    def fund(self, product: str, currency: str, amount: int, to_type: int = SPOT, exchange: str = "TEST") -> None:
        self.apply(C.Deposit(product, currency, amount))
        self.apply(C.Transfer(product, currency, amount, SETTLEMENT, to_type, exchange))
