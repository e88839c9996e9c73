"""The engine: all exchange state and the pure function that applies a command to it.

``Engine.apply(cmd, seq, now)`` validates the command, changes state, appends events to
``engine.events`` and returns the command's result; a rejected command raises
:class:`~ceres.domain.errors.CeresError` and changes nothing. The engine reads no clock,
no randomness and no environment: time and sequence number come in with the command, so
replaying a journal reproduces the state exactly (``state_hash``).

State: instruments and books (from config), products with their accounts, balances, open
orders and API keys, the ledger's fee income and net deposits, and the id generator.
Finished orders leave the engine; their history is in the projection store.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable

import msgspec

from ceres.domain import commands as C
from ceres.domain.enums import AccountType, OrderStatus, PriceType, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.ids import IdGen
from ceres.domain.instruments import MAX_PRICE_TICKS, RATE_SCALE, Instrument
from ceres.domain.secret import Secret, secret_enc_hook
from ceres.engine import contracts, funding, spot, triggers
from ceres.engine.contract_state import ContractState
from ceres.engine.book import OrderBook
from ceres.engine.ledger import ApiKey, Ledger, Product
from ceres.engine.orders import Order, OrderEvent
from ceres.engine.positions import PositionEvent, pool_term

MAX_CLIENT_OID = 64
MAX_CANCEL_IDS = 15
MAX_AMOUNT = 2**63 - 1
"""Cap on the net deposits of a currency: since money is conserved, no balance, fee total
or order amount derived from it can exceed a signed 64-bit integer (journal, snapshot and
SQLite all store int64)."""
_SIDES = frozenset({int(Side.BUY), int(Side.SELL)})
_PRICE_TYPES = frozenset({int(PriceType.LIMIT), int(PriceType.MARKET)})


class CancelResult(msgspec.Struct, frozen=True):
    ok: list[int]
    failed: list[tuple[int, ErrorCode]]


class Engine:
    def __init__(self, instruments: Iterable[Instrument], currencies: dict[str, int]) -> None:
        self.currencies = dict(currencies)
        self.instruments: dict[tuple[str, str], Instrument] = {}
        self.books: dict[tuple[str, str], OrderBook] = {}
        self.exchanges: set[str] = set()
        for inst in instruments:
            self.instruments[inst.key] = inst
            self.books[inst.key] = OrderBook(inst)
            self.exchanges.add(inst.exchange)
        self.products: dict[str, Product] = {}
        self.keys: dict[str, ApiKey] = {}
        self.open_orders: dict[int, Order] = {}
        self.ledger = Ledger()
        self.ids = IdGen()
        self.contracts = ContractState()
        self.seq = 0
        self.now = 0
        self.events: list[Any] = []
        self._handlers: dict[type, Callable[[Any], Any]] = {
            C.Place: self._place,
            C.Cancel: self._cancel,
            C.CreateProduct: self._create_product,
            C.CreateKey: self._create_key,
            C.RevokeKey: self._revoke_key,
            C.Deposit: self._deposit,
            C.Withdraw: self._withdraw,
            C.Transfer: self._transfer,
            C.SetIndex: self._set_index,
            C.SetFundingRate: self._set_funding_rate,
            C.Tick: self._tick,
        }

    # --- applying commands --------------------------------------------------------------
    def apply(self, cmd: C.Command, seq: int, now: int) -> Any:
        """Apply one command stamped with ``seq`` and ``now`` (ms). Raises CeresError on
        rejection, with state unchanged (``seq`` and ``now`` included: a rejected command
        is not journaled, so it must leave no trace)."""
        prev_seq, prev_now = self.seq, self.now
        self.seq = seq
        if now > prev_now:
            self.now = now
        try:
            return self._handlers[type(cmd)](cmd)
        except CeresError:
            self.seq, self.now = prev_seq, prev_now
            raise

    def take_events(self) -> list[Any]:
        """Hand over the events of the last command(s), numbering the notice events
        (order and position events) per product: 19003's gap-free ``seq``."""
        events, self.events = self.events, []
        products = self.products
        for ev in events:
            cls = ev.__class__
            if cls is OrderEvent:
                product = ev.order.product
            elif cls is PositionEvent:
                product = products[ev.product]
            else:
                continue
            product.notices += 1
            ev.nseq = product.notices
        return events

    # --- lookups --------------------------------------------------------------------------
    def product(self, name: str) -> Product:
        product = self.products.get(name)
        if product is None:
            raise CeresError(ErrorCode.UNKNOWN_PRODUCT, f"unknown product {name!r}", "product")
        return product

    def instrument(self, exchange: str, contract: str) -> Instrument:
        inst = self.instruments.get((exchange, contract))
        if inst is None:
            if exchange not in self.exchanges:
                raise CeresError(ErrorCode.UNKNOWN_EXCHANGE, f"unknown exchange {exchange!r}", "exchange")
            raise CeresError(ErrorCode.UNKNOWN_CONTRACT,
                             f"unknown contract {contract!r} on {exchange}", "contract")
        return inst

    def register_open(self, order: Order) -> None:
        self.open_orders[order.oid] = order
        product = order.product
        product.open_orders[order.oid] = order
        if order.client_oid:
            product.coids[order.client_oid] = order

    def unregister_open(self, order: Order) -> None:
        del self.open_orders[order.oid]
        product = order.product
        del product.open_orders[order.oid]
        if order.client_oid and product.coids.get(order.client_oid) is order:
            del product.coids[order.client_oid]

    # --- trading --------------------------------------------------------------------------
    def _place(self, cmd: C.Place) -> int:
        product = self.products.get(cmd.product) or self.product(cmd.product)
        inst = self.instruments.get((cmd.exchange, cmd.contract)) or self.instrument(cmd.exchange, cmd.contract)
        if cmd.side not in _SIDES:
            raise CeresError(ErrorCode.INVALID_VALUE, "must be buy or sell", "entrust_bs")
        if cmd.price_type not in _PRICE_TYPES:
            raise CeresError(ErrorCode.INVALID_VALUE, "must be limit or market", "price_type")
        if len(cmd.client_oid) > MAX_CLIENT_OID:
            raise CeresError(ErrorCode.FIELD_TOO_LONG, f"at most {MAX_CLIENT_OID} characters", "client_oid")
        if cmd.client_oid:
            existing = product.coids.get(cmd.client_oid)
            if existing is not None:
                return existing.oid  # idempotent retry of an order that is still open
        if inst.is_contract:
            return contracts.place(self, cmd, product, inst)
        return spot.place(self, cmd, product, inst)

    def _cancel(self, cmd: C.Cancel) -> CancelResult:
        if len(cmd.ids) > MAX_CANCEL_IDS:
            raise CeresError(ErrorCode.TOO_MANY_IDS, field="system_oid")
        product = self.product(cmd.product)
        ok: list[int] = []
        failed: list[tuple[int, ErrorCode]] = []
        for oid in cmd.ids:
            order = self.open_orders.get(oid)
            if order is None or order.product is not product:
                failed.append((oid, ErrorCode.ORDER_NOT_FOUND))
            elif order.inst.is_contract:
                contracts.cancel(self, order)
                triggers.check_triggers(self, order.inst)
                ok.append(oid)
            else:
                spot.cancel(self, order)
                ok.append(oid)
        return CancelResult(ok, failed)

    # --- contract market inputs and time -----------------------------------------------
    def _contract(self, exchange: str, contract: str) -> Instrument:
        inst = self.instrument(exchange, contract)
        if not inst.is_contract:
            raise CeresError(ErrorCode.NOT_A_CONTRACT, f"{contract} is not a contract", "contract")
        return inst

    def _set_index(self, cmd: C.SetIndex) -> None:
        inst = self._contract(cmd.exchange, cmd.contract)
        if not 1 <= cmd.price <= MAX_PRICE_TICKS:
            raise CeresError(ErrorCode.PRICE_OUT_OF_RANGE, "index price out of range", "price")
        triggers.set_index(self, inst, cmd.price)

    def _set_funding_rate(self, cmd: C.SetFundingRate) -> None:
        inst = self._contract(cmd.exchange, cmd.contract)
        if not inst.funding_interval_ms:
            raise CeresError(ErrorCode.INVALID_VALUE, f"{inst.contract} has no funding", "contract")
        if abs(cmd.rate) > RATE_SCALE // 100:
            raise CeresError(ErrorCode.INVALID_VALUE, "funding rate beyond +-1%", "rate")
        self.contracts.funding_rates[(inst.exchange, inst.contract)] = cmd.rate

    def _tick(self, cmd: C.Tick) -> None:
        funding.tick(self)

    def next_due(self) -> int | None:
        """When the next time-driven event (funding, expiry) is due, in ms."""
        return funding.next_due(self)

    # --- products, keys, funds -----------------------------------------------------------
    def _create_product(self, cmd: C.CreateProduct) -> None:
        name = cmd.name
        if not name or len(name) > 64 or not name.isascii() or not all(c.isalnum() or c in "-_." for c in name):
            raise CeresError(ErrorCode.INVALID_VALUE,
                             "product names are 1-64 letters, digits, '-', '_' or '.'", "name")
        if name in self.products:
            raise CeresError(ErrorCode.ALREADY_EXISTS, f"product {name!r} already exists", "name")
        self.products[name] = Product(name, self.now)

    def _create_key(self, cmd: C.CreateKey) -> None:
        product = self.product(cmd.product)
        if len(cmd.api_key) != 16 or not cmd.api_key.isalnum() or not cmd.api_key.isascii():
            raise CeresError(ErrorCode.INVALID_VALUE, "api_key must be 16 letters or digits", "api_key")
        if len(cmd.secret) != 32:
            raise CeresError(ErrorCode.INVALID_VALUE, "secret must be 32 characters", "secret")
        if cmd.api_key in self.keys:
            raise CeresError(ErrorCode.ALREADY_EXISTS, "api_key already exists", "api_key")
        if not cmd.permissions:
            raise CeresError(ErrorCode.INVALID_VALUE, "at least one permission", "permissions")
        self.keys[cmd.api_key] = ApiKey(cmd.api_key, Secret(cmd.secret), product,
                                        cmd.permissions, self.now)

    def _revoke_key(self, cmd: C.RevokeKey) -> None:
        key = self.keys.get(cmd.api_key)
        if key is None:
            raise CeresError(ErrorCode.UNKNOWN_KEY, f"unknown api_key {cmd.api_key!r}", "api_key")
        key.revoked = True

    def _check_amount(self, currency: str, amount: int) -> None:
        if currency not in self.currencies:
            raise CeresError(ErrorCode.INVALID_VALUE, f"unknown currency {currency!r}", "currency")
        if amount <= 0:
            raise CeresError(ErrorCode.INVALID_DECIMAL, "must be greater than zero", "amount")
        if amount > MAX_AMOUNT:
            raise CeresError(ErrorCode.INVALID_VALUE, "amount is too large", "amount")

    def _deposit(self, cmd: C.Deposit) -> int:
        product = self.product(cmd.product)
        self._check_amount(cmd.currency, cmd.amount)
        nd = self.ledger.net_deposits
        if nd.get(cmd.currency, 0) + cmd.amount > MAX_AMOUNT:
            raise CeresError(ErrorCode.INVALID_VALUE,
                             f"total {cmd.currency} in the venue would exceed 2^63-1 minor units", "amount")
        bal = product.account("", AccountType.SETTLEMENT).bal(cmd.currency)
        bal.total += cmd.amount
        nd[cmd.currency] = nd.get(cmd.currency, 0) + cmd.amount
        return bal.total

    def _withdraw(self, cmd: C.Withdraw) -> int:
        product = self.product(cmd.product)
        self._check_amount(cmd.currency, cmd.amount)
        bal = product.balance("", AccountType.SETTLEMENT, cmd.currency)
        if bal is None or bal.available < cmd.amount:
            raise CeresError(ErrorCode.INSUFFICIENT_BALANCE,
                             f"insufficient {cmd.currency} in the settlement account")
        bal.total -= cmd.amount
        nd = self.ledger.net_deposits
        nd[cmd.currency] = nd.get(cmd.currency, 0) - cmd.amount
        return bal.total

    def _account_key(self, type_: int, exchange: str, field: str) -> tuple[str, int]:
        if type_ == AccountType.SETTLEMENT:
            return ("", type_)
        if type_ in (AccountType.SPOT, AccountType.CONTRACT):
            if exchange not in self.exchanges:
                raise CeresError(ErrorCode.UNKNOWN_EXCHANGE, f"unknown exchange {exchange!r}", "exchange")
            return (exchange, type_)
        raise CeresError(ErrorCode.INVALID_VALUE, "account type must be 2, 3 or 4", field)

    def _transfer(self, cmd: C.Transfer) -> int:
        product = self.product(cmd.product)
        self._check_amount(cmd.currency, cmd.amount)
        src_key = self._account_key(cmd.from_type, cmd.exchange, "from")
        dst_key = self._account_key(cmd.to_type, cmd.exchange, "to")
        if src_key == dst_key:
            raise CeresError(ErrorCode.INVALID_VALUE, "source and destination are the same account", "to")
        src = product.balance(src_key[0], src_key[1], cmd.currency)
        if src is None or src.available < cmd.amount:
            raise CeresError(ErrorCode.INSUFFICIENT_BALANCE,
                             f"insufficient available {cmd.currency} in account type {cmd.from_type}")
        src.total -= cmd.amount
        dst = product.account(dst_key[0], dst_key[1]).bal(cmd.currency)
        dst.total += cmd.amount
        return src.total

    # --- integrity ------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Internal-consistency problems; an empty list means consistent."""
        problems: list[str] = []
        resting: dict[int, Order] = {}
        for book in self.books.values():
            problems += book.check()
            for order in book.resting():
                resting[order.oid] = order
        if resting.keys() != self.open_orders.keys():
            problems.append("open orders differ from resting orders")
        frozen: dict[int, int] = {}
        closing: dict[int, int] = {}
        for order in self.open_orders.values():
            if order.product.open_orders.get(order.oid) is not order:
                problems.append(f"order {order.oid} missing from its product")
            frozen[id(order.pay)] = frozen.get(id(order.pay), 0) + order.frozen
            if order.fdir == 2:
                closing[order.deal_id] = closing.get(order.deal_id, 0) + order.vol - order.filled
            if order.status not in (OrderStatus.SUBMITTED, OrderStatus.PART_FILLED):
                problems.append(f"open order {order.oid} has status {order.status}")
        held: dict[str, int] = {}
        interest: dict[tuple[str, str], int] = {}
        for pos in self.contracts.positions.values():
            frozen[id(pos.bal)] = frozen.get(id(pos.bal), 0) + pos.margin
            inst = pos.inst
            held[inst.settle] = held.get(inst.settle, 0) + pool_term(inst, pos.side, pos.cost)
            interest[inst.key] = interest.get(inst.key, 0) + (pos.vol if pos.side == 1 else -pos.vol)
            if pos.vol <= 0 or pos.cost < 0 or pos.margin < 0:
                problems.append(f"position {pos.deal_id}: vol {pos.vol} cost {pos.cost} margin {pos.margin}")
            if pos.closing != closing.get(pos.deal_id, 0) or pos.closing > pos.vol:
                problems.append(f"position {pos.deal_id}: closing {pos.closing} != close orders "
                                f"{closing.get(pos.deal_id, 0)}")
            if pos.product.positions.get(pos.deal_id) is not pos:
                problems.append(f"position {pos.deal_id} missing from its product")
        if sum(len(h) for h in self.contracts.holdings.values()) != len(self.contracts.positions):
            problems.append("position holdings index out of sync")
        for key, net in interest.items():
            if net:
                problems.append(f"{key[1]}: open interest unbalanced by {net} lots")
        for product in self.products.values():
            for acc, cur, bal in product.iter_balances():
                if acc.type in (AccountType.SPOT, AccountType.CONTRACT) and bal.frozen != frozen.get(id(bal), 0):
                    problems.append(f"{product.name} {acc.venue}/{acc.type} {cur}: frozen {bal.frozen} "
                                    f"!= open orders and margins {frozen.get(id(bal), 0)}")
        for (_, cur), amount in self.contracts.insurance.items():
            held[cur] = held.get(cur, 0) + amount
        problems += self.ledger.check(self.products, held)
        return problems

    def state_hash(self) -> str:
        """SHA-256 over the canonical encoding of the whole state."""
        from ceres.engine.snapshot import engine_state

        data = msgspec.msgpack.encode(engine_state(self), enc_hook=secret_enc_hook)
        return hashlib.sha256(data).hexdigest()
