"""All exchange state the engine owns, and the lookups and bookkeeping every command shares.

State: instruments and books (from config), products with their accounts, balances, open
orders and API keys, the ledger's fee income and net deposits, contract state, the id
generator, the sequence number and time of the command being applied, and the events it
has produced so far. ``engine.core.Engine`` adds the commands; the trading modules (spot,
contracts, triggers, funding) work on a :class:`State`.

Events are created here only, so every order and position event gets the product's next
notice number (19003 ``seq``) as it is created.
"""

from __future__ import annotations

from collections.abc import Iterable

from ceres.domain.enums import Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import Event, OrderEvent, PositionEvent
from ceres.domain.ids import IdGen
from ceres.domain.instruments import Instrument
from ceres.engine.book import OrderBook
from ceres.engine.contract_state import ContractState
from ceres.engine.ledger import ApiKey, Ledger, Product
from ceres.engine.live_positions import Key as LiveKey
from ceres.engine.live_positions import LivePosition
from ceres.engine.orders import LiveOrder, Order

Key = tuple[str, str]
BUY = int(Side.BUY)


class State:
    def __init__(self, instruments: Iterable[Instrument], currencies: dict[str, int]) -> None:
        self.currencies = dict(currencies)
        self.instruments: dict[Key, Instrument] = {}
        self.books: dict[Key, OrderBook] = {}
        self.exchanges: set[str] = set()
        for inst in instruments:
            self.instruments[inst.key] = inst
            self.books[inst.key] = OrderBook(inst)
            self.exchanges.add(inst.exchange)
        self.products: dict[str, Product] = {}
        self.keys: dict[str, ApiKey] = {}
        self.open_orders: dict[int, Order] = {}
        self.live_instruments: dict[Key, Instrument] = {}  # live venues' markets, as journaled (engine.live)
        self.live_orders: dict[int, LiveOrder] = {}
        self.paper_venues: set[str] = set()  # live venues in paper mode (engine.paper)
        self.deadman: dict[str, tuple[int, str]] = {}  # product -> (deadline ms, exchange or "") (engine.controls)
        self.live_positions: dict[LiveKey, LivePosition] = {}  # contracts at live venues (engine.live_positions)
        self.ledger = Ledger()
        self.ids = IdGen()
        self.contracts = ContractState()
        self.seq = 0
        self.now = 0
        self.events: list[Event] = []

    # --- lookups --------------------------------------------------------------------------
    def product(self, name: str) -> Product:
        product = self.products.get(name)
        if product is None:
            raise CeresError(ErrorCode.UNKNOWN_PRODUCT, f"unknown product {name!r}", "product")
        return product

    def instrument(self, exchange: str, contract: str) -> Instrument:
        inst = self.instruments.get((exchange, contract))
        if inst is None:
            self.exchange(exchange)
            raise CeresError(ErrorCode.UNKNOWN_CONTRACT,
                             f"unknown contract {contract!r} on {exchange}", "contract")
        return inst

    def exchange(self, exchange: str) -> str:
        if exchange not in self.exchanges:
            raise CeresError(ErrorCode.UNKNOWN_EXCHANGE, f"unknown exchange {exchange!r}", "exchange")
        return exchange

    def contract(self, exchange: str, contract: str) -> Instrument:
        inst = self.instrument(exchange, contract)
        if not inst.is_contract:
            raise CeresError(ErrorCode.NOT_A_CONTRACT, f"{contract} is not a contract", "contract")
        return inst

    # --- open orders ----------------------------------------------------------------------
    def rest(self, order: Order, book: OrderBook) -> None:
        """Put an order into its book and the open orders (of the engine, of its product,
        by client id)."""
        spec = order.spec
        (book.bids if spec.side == BUY else book.asks).add(order, spec.vol - order.filled)
        oid = spec.oid
        self.open_orders[oid] = order
        product = order.product
        product.open_orders[oid] = order
        if spec.client_oid:
            product.coids[spec.client_oid] = order

    def unregister_open(self, order: Order) -> None:
        spec = order.spec
        del self.open_orders[spec.oid]
        product = order.product
        del product.open_orders[spec.oid]
        if spec.client_oid and product.coids.get(spec.client_oid) is order:
            del product.coids[spec.client_oid]

    # --- events ---------------------------------------------------------------------------
    def order_event(self, order: Order | LiveOrder, kind: int, deal_vol: int = 0, deal_price: int = 0,
                    reason: str = "") -> None:
        """Report the order's state now (after a change of ``kind``)."""
        product = order.product
        n = product.notices = product.notices + 1
        self.events.append(OrderEvent(order.spec, kind, order.status, order.filled, order.dealt,
                                      order.commission, deal_vol, deal_price, self.seq, n, reason))

    def position_event(self, kind: str, product: Product, inst: Instrument, oid: int, deal_id: int,
                       force: int, margin: int, tp: int, sl: int, vol: int) -> None:
        n = product.notices = product.notices + 1
        self.events.append(PositionEvent(kind, product.name, inst, oid, deal_id, force, margin, tp, sl,
                                         vol, self.seq, n))
