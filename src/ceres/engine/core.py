"""The engine: the pure function that applies a command to the exchange state.

``Engine.apply(cmd, seq, now)`` validates the command, changes state, appends events to
``engine.events`` and returns the command's result. The engine reads no clock, no
randomness and no environment: time and sequence number come in with the command, so
replaying a journal reproduces the state exactly (``state_hash``).

A rejected command raises :class:`~ceres.domain.errors.CeresError` and changes nothing,
by construction: every command first decides (lookups and checks that may refuse it) and
only then changes state, and nothing after that point raises ``CeresError``. ``apply``
holds the engine to it: a ``CeresError`` raised after the command reported a change (an
event stamped with its seq) is an :class:`EngineFault` (state is no longer trustworthy;
the server stops), never a rejection. Finished orders leave the engine; their history is in the projection store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from ceres.domain import commands as C
from ceres.domain.enums import AccountType, FutureDir, OrderStatus, PriceType, ReportKind, Side
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import Event
from ceres.domain.instruments import MAX_PRICE_TICKS, MAX_VOLUME_LOTS, RATE_SCALE, Instrument
from ceres.domain.secret import SECRET_CHARS, TAG_BYTES, SealedSecret, Secret, secret_enc_hook
from ceres.engine import amend, contracts, controls, funding, lifetime, live, spot, triggers, venue_keys
from ceres.engine.audit import audit
from ceres.engine.key_rules import check_networks
from ceres.engine.ledger import ApiKey, Product
from ceres.engine.orders import Order
from ceres.engine.snapshot import engine_state
from ceres.engine.state import State

MAX_CLIENT_OID = 64
MAX_CANCEL_IDS = 15
MAX_AMOUNT = 2**63 - 1
"""Cap on the net deposits of a currency: since money is conserved, no balance, fee total
or order amount derived from it can exceed a signed 64-bit integer (journal, snapshot and
SQLite all store int64)."""
_SIDES = frozenset({int(Side.BUY), int(Side.SELL)})
_PRICE_TYPES = frozenset({int(PriceType.LIMIT), int(PriceType.MARKET)})
_ACCOUNT_TYPES = (int(AccountType.SPOT), int(AccountType.CONTRACT))
SETTLEMENT = int(AccountType.SETTLEMENT)
SPOT_ACCOUNT = int(AccountType.SPOT)
CANCELLED = int(ReportKind.CANCELLED)
LIMIT = int(PriceType.LIMIT)
BUY = int(Side.BUY)
POST_ONLY = lifetime.POST_ONLY
CLOSE = int(FutureDir.CLOSE)


class CancelResult(msgspec.Struct, frozen=True):
    ok: list[int]
    failed: list[tuple[int, ErrorCode]]


class EngineFault(Exception):
    """A command failed after it had started changing state: an engine bug. The state is
    not what the journal says any more; the server must stop (replay rebuilds it)."""


class Engine(State):
    def __init__(self, instruments: Iterable[Instrument], currencies: dict[str, int]) -> None:
        super().__init__(instruments, currencies)
        self._handlers: dict[type, Callable[[Any], Any]] = {
            C.Place: self._place,
            C.Cancel: self._cancel,
            C.CreateProduct: self._create_product,
            C.CreateKey: self._create_key,
            C.RevokeKey: self._revoke_key,
            C.SetKey: self._set_key,
            C.ConnectVenue: lambda cmd: venue_keys.connect(self.product(cmd.product), cmd, self.now),
            C.DefineInstrument: lambda cmd: live.define(self, cmd),
            C.VenueReport: lambda cmd: live.report(self, cmd),
            C.SetPaperVenue: lambda cmd: live.set_paper(self, cmd),
            C.DisconnectVenue: lambda cmd: venue_keys.disconnect(self.product(cmd.product), cmd),
            C.Deposit: self._deposit,
            C.Withdraw: self._withdraw,
            C.Transfer: self._transfer,
            C.SetIndex: self._set_index,
            C.SetFundingRate: self._set_funding_rate,
            C.Tick: self._tick,
            C.CancelAll: lambda cmd: controls.cancel_all(self, self.product(cmd.product), cmd.exchange, cmd.contract,
                                                         cmd.side, cmd.reason),
            C.CancelAllAfter: lambda cmd: controls.set_deadman(self, cmd),
            C.Amend: lambda cmd: amend.amend(self, cmd),
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
        except CeresError as exc:
            events = self.events
            if events and events[-1].seq == seq and seq != prev_seq:  # it already reported changes
                raise EngineFault(f"seq {seq}: {type(cmd).__name__} was refused ({exc}) after it "
                                  "changed state") from exc
            self.seq, self.now = prev_seq, prev_now
            raise

    def adopt(self, other: Engine) -> None:
        """Take over ``other``'s state, keeping this object and its top-level containers
        (whoever holds ``engine`` or ``engine.keys`` sees the new state). Used to rewind
        to the durable journal after a failed write: ``other`` is a fresh recovery."""
        mine = self.__dict__
        for name, value in vars(other).items():
            if name == "_handlers":
                continue
            held = mine.get(name)
            if isinstance(held, (dict, set)) and type(held) is type(value):
                held.clear()
                held.update(value)
            else:
                mine[name] = value

    def take_events(self) -> list[Event]:
        """Hand over the events of the last command(s)."""
        events, self.events = self.events, []
        return events

    # --- trading --------------------------------------------------------------------------
    def _place(self, cmd: C.Place) -> int | list[int]:
        product = self.products.get(cmd.product) or self.product(cmd.product)
        key = (cmd.exchange, cmd.contract)
        inst = self.instruments.get(key) or self.live_instruments.get(key) or self.instrument(*key)
        if cmd.side not in _SIDES:
            raise CeresError(ErrorCode.INVALID_VALUE, "must be buy or sell", "entrust_bs")
        if cmd.price_type not in _PRICE_TYPES:
            raise CeresError(ErrorCode.INVALID_VALUE, "must be limit or market", "price_type")
        if len(cmd.client_oid) > MAX_CLIENT_OID:
            raise CeresError(ErrorCode.FIELD_TOO_LONG, f"at most {MAX_CLIENT_OID} characters", "client_oid")
        if cmd.client_oid:
            existing = product.coids.get(cmd.client_oid)
            if existing is not None:
                return existing.spec.oid  # idempotent retry of an order that is still open
        if inst.is_contract:
            contracts.check_trading(self, inst)
        if cmd.price_type == LIMIT:
            price = cmd.price
            if not inst.min_price_ticks <= price <= MAX_PRICE_TICKS:
                raise CeresError(ErrorCode.PRICE_OUT_OF_RANGE, f"must be at least min_price {inst.min_price}",
                                 "entrust_price")
        else:
            price = 0
        if not price and cmd.side == BUY and not inst.is_contract:  # a quote budget, not a volume
            if cmd.vol <= 0:
                raise CeresError(ErrorCode.VOLUME_OUT_OF_RANGE, "must be greater than zero", "entrust_vol")
        elif not inst.min_volume_lots <= cmd.vol <= MAX_VOLUME_LOTS:
            raise CeresError(ErrorCode.VOLUME_OUT_OF_RANGE, f"must be at least min_volume {inst.min_volume}",
                             "entrust_vol")
        if inst.exchange not in self.exchanges:  # a live venue's market (engine.live)
            return live.place(self, cmd, product, inst, price)
        tif = (lifetime.time_in_force(inst, cmd.side, cmd.price_type, cmd.tif) if cmd.tif
               else lifetime.DEFAULT_TIF[cmd.price_type])
        if cmd.stp:
            lifetime.check_stp(cmd.stp)
        if tif == POST_ONLY and lifetime.would_take(self.books[key], cmd.side, price):
            raise CeresError(ErrorCode.POST_ONLY_WOULD_TAKE, f"the book would fill it at once (best "
                             f"{'ask' if cmd.side == BUY else 'bid'} at or better than its price)", "post_only")
        if not inst.is_contract:
            return spot.place(self, cmd, product, inst, price, tif)
        result = contracts.place(self, cmd, product, inst, price, tif)
        triggers.check_triggers(self, inst)
        return result

    def _cancel(self, cmd: C.Cancel) -> CancelResult:
        if len(cmd.ids) > MAX_CANCEL_IDS:
            raise CeresError(ErrorCode.TOO_MANY_IDS, field="system_oid")
        product = self.products.get(cmd.product) or self.product(cmd.product)
        reason = cmd.reason
        if reason:
            controls.check_reason(reason)
        # --- decided: each id succeeds or fails on its own ---------------------------------
        ok: list[int] = []
        failed: list[tuple[int, ErrorCode]] = []
        for oid in cmd.ids:
            order = self.open_orders.get(oid)
            if order is None and oid in product.live_orders:
                try:
                    live.cancel(self, product.live_orders[oid], reason)
                except CeresError as exc:
                    failed.append((oid, exc.error))
                else:
                    ok.append(oid)
            elif order is None or order.product is not product:
                failed.append((oid, ErrorCode.ORDER_NOT_FOUND))
            elif order.spec.inst.is_contract:
                contracts.cancel(self, order, CANCELLED, reason)
                triggers.check_triggers(self, order.spec.inst)
                ok.append(oid)
            else:
                lifetime.cancel(self, order, CANCELLED, reason)
                ok.append(oid)
        return CancelResult(ok, failed)

    # --- contract market inputs and time -----------------------------------------------
    def _set_index(self, cmd: C.SetIndex) -> None:
        inst = self.contract(cmd.exchange, cmd.contract)
        if not 1 <= cmd.price <= MAX_PRICE_TICKS:
            raise CeresError(ErrorCode.PRICE_OUT_OF_RANGE, "index price out of range", "price")
        triggers.set_index(self, inst, cmd.price)

    def _set_funding_rate(self, cmd: C.SetFundingRate) -> None:
        inst = self.contract(cmd.exchange, cmd.contract)
        if not inst.funding_interval_ms:
            raise CeresError(ErrorCode.INVALID_VALUE, f"{inst.contract} has no funding", "contract")
        if abs(cmd.rate) > RATE_SCALE // 100:
            raise CeresError(ErrorCode.INVALID_VALUE, "funding rate beyond +-1%", "rate")
        self.contracts.funding_rates[(inst.exchange, inst.contract)] = cmd.rate

    def _tick(self, cmd: C.Tick) -> None:
        funding.tick(self)
        controls.tick(self)

    def next_due(self) -> int | None:
        """When the next time-driven event (funding, expiry, a dead-man's switch) is due, in ms."""
        due = [t for t in (funding.next_due(self), controls.next_due(self)) if t is not None]
        return min(due, default=None)

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
        stored = cmd.secret  # sealed at the edge; plain in journals from before sealing
        chars = 0
        if isinstance(stored, SealedSecret):
            chars = len(stored.ciphertext) - TAG_BYTES
        elif isinstance(stored, str):
            stored, chars = Secret(stored), len(stored)
        if chars != SECRET_CHARS:
            raise CeresError(ErrorCode.INVALID_VALUE, "secret must be 32 characters", "secret")
        if cmd.api_key in self.keys:
            raise CeresError(ErrorCode.ALREADY_EXISTS, "api_key already exists", "api_key")
        if not cmd.permissions:
            raise CeresError(ErrorCode.INVALID_VALUE, "at least one permission", "permissions")
        check_networks(cmd.allow_ips)
        lifetime.check_stp(cmd.stp)
        self.keys[cmd.api_key] = ApiKey(cmd.api_key, stored, product, cmd.permissions, self.now,
                                        require_timestamp=cmd.require_timestamp, allow_ips=cmd.allow_ips,
                                        stp=cmd.stp)

    def _revoke_key(self, cmd: C.RevokeKey) -> None:
        key = self.keys.get(cmd.api_key)
        if key is None:
            raise CeresError(ErrorCode.UNKNOWN_KEY, f"unknown api_key {cmd.api_key!r}", "api_key")
        key.revoked = True

    def _set_key(self, cmd: C.SetKey) -> None:
        key = self.keys.get(cmd.api_key)
        if key is None:
            raise CeresError(ErrorCode.UNKNOWN_KEY, f"unknown api_key {cmd.api_key!r}", "api_key")
        if key.revoked:
            raise CeresError(ErrorCode.INVALID_VALUE, f"api_key {cmd.api_key} is revoked", "api_key")
        if cmd.stp is not None:
            lifetime.check_stp(cmd.stp)
        if cmd.allow_ips is not None:
            check_networks(cmd.allow_ips)
            key.allow_ips = cmd.allow_ips
        if cmd.stp is not None:
            key.stp = cmd.stp
        if cmd.require_timestamp is not None:
            key.require_timestamp = cmd.require_timestamp

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
        if self.ledger.net_deposits.get(cmd.currency, 0) + cmd.amount > MAX_AMOUNT:
            raise CeresError(ErrorCode.INVALID_VALUE,
                             f"total {cmd.currency} in the venue would exceed 2^63-1 minor units", "amount")
        bal = product.account("", SETTLEMENT).bal(cmd.currency)
        self.ledger.deposit(bal, cmd.currency, cmd.amount, cmd.topup)
        return bal.total

    def _withdraw(self, cmd: C.Withdraw) -> int:
        product = self.product(cmd.product)
        self._check_amount(cmd.currency, cmd.amount)
        bal = product.balance("", SETTLEMENT, cmd.currency)
        if bal is None or bal.available < cmd.amount:
            raise CeresError(ErrorCode.INSUFFICIENT_BALANCE,
                             f"insufficient {cmd.currency} in the settlement account")
        self.ledger.withdraw(bal, cmd.currency, cmd.amount)
        return bal.total

    def _account_key(self, type_: int, exchange: str, field: str) -> tuple[str, int]:
        if type_ == SETTLEMENT:
            return ("", type_)
        if type_ == SPOT_ACCOUNT and exchange in self.paper_venues:  # engine.paper
            return (exchange, type_)
        if type_ in _ACCOUNT_TYPES:
            return (self.exchange(exchange), type_)
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
        self.ledger.transfer(src, product.account(dst_key[0], dst_key[1]).bal(cmd.currency), cmd.amount)
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
            frozen[id(order.pay)] = frozen.get(id(order.pay), 0) + order.reserved
            if order.fdir == CLOSE:
                closing[order.deal_id] = closing.get(order.deal_id, 0) + order.vol - order.filled
            if order.status not in (OrderStatus.SUBMITTED, OrderStatus.PART_FILLED):
                problems.append(f"open order {order.oid} has status {order.status}")
        live_closing: dict[tuple[str, str, str, int], int] = {}
        for live_order in self.live_orders.values():  # paper orders hold money (engine.paper)
            if live_order.pay is not None:
                frozen[id(live_order.pay)] = frozen.get(id(live_order.pay), 0) + live_order.reserved
            spec = live_order.spec
            if spec.fdir == CLOSE:
                k = (spec.product, spec.inst.exchange, spec.inst.contract, 2 if spec.side == 1 else 1)
                live_closing[k] = live_closing.get(k, 0) + spec.vol - live_order.filled
        for k, lp in self.live_positions.items():  # contracts at live venues (engine.live_positions)
            if lp.vol <= 0 or lp.cost < 0 or lp.closing != live_closing.pop(k, 0) or lp.closing > lp.vol:
                problems.append(f"live position {k}: vol {lp.vol} cost {lp.cost} closing {lp.closing}")
        problems += [f"close orders at {k} without a live position" for k in live_closing]
        interest: dict[tuple[str, str], int] = {}
        for pos in self.contracts.positions.values():
            frozen[id(pos.bal)] = frozen.get(id(pos.bal), 0) + pos.margin
            inst = pos.inst
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
                if acc.type in _ACCOUNT_TYPES and bal.frozen != frozen.get(id(bal), 0):
                    problems.append(f"{product.name} {acc.venue}/{acc.type} {cur}: frozen {bal.frozen} "
                                    f"!= open orders and margins {frozen.get(id(bal), 0)}")
        problems += [f"insurance fund {venue} {cur} is negative: {amount}"
                     for (venue, cur), amount in sorted(self.contracts.insurance.items()) if amount < 0]
        problems += self.ledger.check(self.products)
        problems += [f"conservation {cur}: held {a.held} != net deposits {a.net_deposits}"
                     for cur, a in audit(self).items() if not a.ok]
        return problems

    def state_hash(self) -> str:
        """SHA-256 over the canonical encoding of the whole state."""
        data = msgspec.msgpack.encode(engine_state(self), enc_hook=secret_enc_hook)
        return hashlib.sha256(data).hexdigest()
