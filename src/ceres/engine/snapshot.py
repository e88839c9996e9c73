"""Canonical engine state: the content of snapshots and the input of the state hash.

``engine_state`` turns the engine into plain, deterministically ordered data (sorted
keys; resting orders in book priority order, best price first, then time), and
``restore_engine`` rebuilds an equal engine from it. Encoding is MessagePack; API secrets
are stored as the engine holds them: sealed (bytes), or plain text for keys created before
sealing (``ceres keys seal`` seals those). The layout is versioned (``STATE_VERSION``): a
snapshot of another version is not loaded (recovery then replays the journal instead).
Version 3 differs from 4 only in holding plain secrets, and 4 from 5 only in key rows
without their protections (``require_timestamp``, ``allow_ips``: restored as off and
empty), so both are still loaded.
The ledger's money flows (``flows``, ``covered``: the audit's deposits, withdrawals,
top-ups and venue cover) are optional keys: a snapshot written before them loads with
none, and its net deposits show as carried forward in the audit.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ceres.domain import commands as C
from ceres.domain.enums import AccountType, FutureDir, Side, TimeInForce
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.events import OrderSpec
from ceres.domain.secret import stored_secret
from ceres.engine import contracts, marks, spot
from ceres.engine.ledger import ApiKey, Product, VenueKey
from ceres.engine.live_positions import LivePosition
from ceres.engine.orders import LiveOrder, Order
from ceres.engine.positions import Position, force_price
from ceres.engine.state import State

STATE_VERSION = 5
READABLE_VERSIONS = (3, 4, STATE_VERSION)  # 3: secrets in plain text (before sealing); 4: keys without protections
GTC = int(TimeInForce.GTC)  # only GTC and post-only orders rest
CLOSE = int(FutureDir.CLOSE)


def engine_state(state: State) -> dict[str, Any]:
    products = []
    for name in sorted(state.products):
        p = state.products[name]
        balances = [[acc.venue, acc.type, cur, bal.total, bal.frozen]
                    for acc, cur, bal in p.iter_balances()]
        products.append([name, p.created, balances, p.notices])
    keys = [[k.api_key, k.secret, k.product.name, k.permissions, k.created, k.revoked, k.require_timestamp,
             list(k.allow_ips), *([k.stp] if k.stp else [])] for _, k in sorted(state.keys.items())]
    books = []
    for key in sorted(state.books):
        book = state.books[key]
        books.append([key[0], key[1], [o.to_state() for o in book.resting()]])
    return {
        "version": STATE_VERSION,
        "seq": state.seq,
        "now": state.now,
        "last_id": state.ids.last,
        "products": products,
        "keys": keys,
        "fees": sorted([v, c, a] for (v, c), a in state.ledger.fees.items()),
        "net_deposits": sorted([c, a] for c, a in state.ledger.net_deposits.items()),
        **_ledger_flows(state),
        "books": books,
        "contracts": _contract_state(state),
        **_venue_keys(state),
        **_live(state),
        **({"deadman": sorted([name, t, exchange] for name, (t, exchange) in state.deadman.items())}
           if state.deadman else {}),
    }


def _live(state: State) -> dict[str, Any]:
    """Live venues' markets, open orders (a paper order with what it holds frozen) and the venues
    in paper mode (engine.live, engine.paper); absent while there are none."""
    if not state.live_instruments and not state.paper_venues:
        return {}
    insts = [list(msgspec.structs.astuple(C.DefineInstrument.of(i))) for _, i in sorted(state.live_instruments.items())]
    orders = [[o.spec.oid, o.spec.product, o.spec.inst.exchange, o.spec.inst.contract, o.spec.side, o.spec.ptype,
               o.spec.price, o.spec.vol, o.spec.client_oid, o.spec.time, o.status, o.filled, o.dealt, o.commission,
               o.venue_oid, sorted(o.trades), *_live_order_tail(o)] for _, o in sorted(state.live_orders.items())]
    positions = [[p.product.name, p.inst.exchange, p.inst.contract, p.side, p.deal_id, p.lever, p.vol, p.cost,
                  p.closing, p.realized] for _, p in sorted(state.live_positions.items())]
    return {"live": {"instruments": insts, "orders": orders,
                     **({"paper": sorted(state.paper_venues)} if state.paper_venues else {}),
                     **({"positions": positions} if positions else {})}}


def _live_order_tail(o: LiveOrder) -> list[Any]:
    """What only some live orders have: a paper order's freeze (else None), then a contract
    order's future_dir, lever and deal_id (also written, as 0, 1, 0, before a time in force),
    then a time in force other than GTC (IOC, FOK, post-only)."""
    spec = o.spec
    tail: list[Any] = [o.reserved if o.pay is not None else None]
    if spec.inst.is_contract or spec.tif:
        tail += [spec.fdir, spec.lever, spec.deal_id]
    if spec.tif:
        tail.append(spec.tif)
    return tail if tail != [None] else []


def _venue_keys(state: State) -> dict[str, Any]:
    """Optional (absent while no product has any, as in snapshots written before them)."""
    rows = [[name, k.exchange, k.api_key, k.secret, k.password, k.connected]
            for name, p in sorted(state.products.items()) for _, k in sorted(p.venue_keys.items())]
    return {"venue_keys": rows} if rows else {}


def _ledger_flows(state: State) -> dict[str, Any]:
    """The audit's money flows (absent from snapshots written before they were kept: those
    restore with no flows, their net deposits counting as carried forward)."""
    ledger = state.ledger
    currencies = sorted(set(ledger.deposits) | set(ledger.withdrawals) | set(ledger.topups))
    return {
        "flows": [[c, ledger.deposits.get(c, 0), ledger.withdrawals.get(c, 0), ledger.topups.get(c, 0)]
                  for c in currencies],
        "covered": sorted([v, c, a] for (v, c), a in ledger.covered.items()),
        **({"outside": sorted([v, c, a] for (v, c), a in ledger.outside.items())} if ledger.outside else {}),
    }


def _contract_state(state: State) -> dict[str, Any]:
    cs = state.contracts
    return {
        "positions": [p.to_state() for _, p in sorted(cs.positions.items())],
        "index": sorted([k[0], k[1], v] for k, v in cs.index.items()),
        "last": sorted([k[0], k[1], v] for k, v in cs.last.items()),
        "funding_rates": sorted([k[0], k[1], v] for k, v in cs.funding_rates.items()),
        "last_funding": sorted([k[0], k[1], v] for k, v in cs.last_funding.items()),
        "expired": sorted([k[0], k[1]] for k in cs.expired),
        "insurance": sorted([k[0], k[1], v] for k, v in cs.insurance.items()),
    }


def restore_engine(state: State, data: dict[str, Any]) -> None:
    """Load ``data`` into a freshly constructed engine with the same instruments."""
    if data.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"snapshot version {data.get('version')} is not one of {READABLE_VERSIONS}")
    state.seq, state.now, state.ids.last = data["seq"], data["now"], data["last_id"]
    for name, created, balances, notices in data["products"]:
        product = state.products[name] = Product(name, created)
        product.notices = notices
        for venue, type_, cur, total, frozen in balances:
            product.account(venue, AccountType(type_)).restore(cur, total, frozen)
    for row in data["keys"]:
        api_key, secret, pname, perms, created, revoked = row[:6]
        require, allow = row[6:8] if len(row) > 6 else (False, ())  # versions 3 and 4: no protections
        stp = row[8] if len(row) > 8 else 0  # a default self-trade prevention, when set
        state.keys[api_key] = ApiKey(api_key, stored_secret(secret), state.products[pname], perms, created,
                                     revoked, bool(require), tuple(allow), stp)
    state.ledger.restore({(venue, cur): amount for venue, cur, amount in data["fees"]},
                         dict(data["net_deposits"]),
                         {cur: (dep, wd, top) for cur, dep, wd, top in data.get("flows", ())},
                         {(venue, cur): amount for venue, cur, amount in data.get("covered", ())},
                         {(venue, cur): amount for venue, cur, amount in data.get("outside", ())})
    state.deadman.update({name: (t, exchange) for name, t, exchange in data.get("deadman", ())})
    _restore_contracts(state, data["contracts"])
    _restore_live(state, data.get("live"))
    for pname, exchange, api_key, secret, password, connected in data.get("venue_keys", ()):
        state.products[pname].venue_keys[exchange] = VenueKey(
            exchange, api_key, stored_secret(secret), None if password is None else stored_secret(password), connected)
    for exchange, contract, rows in data["books"]:
        if (exchange, contract) not in state.instruments:
            raise CeresError(ErrorCode.UNKNOWN_CONTRACT,
                             f"snapshot holds orders on {exchange} {contract}, which the config lacks")
        book = state.books[(exchange, contract)]
        for row in rows:
            state.rest(_order(state, row), book)


def _order(state: State, row: list[Any]) -> Order:
    (oid, pname, exch, contract, side, ptype, price, vol, coid, time, fdir, lever, profit,
     stop, deal_id, filled, dealt, status, commission, reserved, fbt, fbm, notional) = row[:23]
    tif = row[23] if len(row) > 23 else GTC  # resting orders are GTC, or post-only (then written)
    product = state.products[pname]
    inst = state.instruments[(exch, contract)]
    if inst.is_contract:
        pay = recv = contracts.margin_balance(product, inst)
    else:
        pay, recv = spot.balances(product, inst, side)
    spec = OrderSpec(oid, pname, inst, side, ptype, price, vol, coid, time, tif, fdir, lever, profit, stop,
                     deal_id if fdir == CLOSE else 0)
    order = Order(spec, product, pay, recv)
    order.deal_id = deal_id  # an opening order's position, once its first fill opened one
    order.filled, order.dealt, order.status = filled, dealt, status
    order.commission, order.reserved = commission, reserved
    order.fee_basis_taker, order.fee_basis_maker, order.notional = fbt, fbm, notional
    return order


def _restore_contracts(state: State, data: dict[str, Any]) -> None:
    cs = state.contracts
    for row in data["positions"]:
        (deal, pname, exch, contract, side, vol, cost, margin, lever, realized, tp, sl, oid,
         opened, closing) = row
        product = state.products[pname]
        inst = state.instruments[(exch, contract)]
        pos = Position(deal, product, inst, side, lever, tp, sl, oid, opened,
                       contracts.margin_balance(product, inst))
        pos.vol, pos.cost, pos.margin, pos.realized, pos.closing = vol, cost, margin, realized, closing
        pos.force = force_price(inst, side, vol, cost, margin)
        cs.hold(pos)
    for exch, contract, v in data["index"]:
        cs.index[(exch, contract)] = v
    for exch, contract, v in data["last"]:
        cs.last[(exch, contract)] = v
    for exch, contract, v in data["funding_rates"]:
        cs.funding_rates[(exch, contract)] = v
    for exch, contract, v in data["last_funding"]:
        cs.last_funding[(exch, contract)] = v
    for exch, contract in data["expired"]:
        cs.expired.add((exch, contract))
    for venue, cur, v in data["insurance"]:
        cs.insurance[(venue, cur)] = v
    marks.rearm_all(cs)


def _restore_live(state: State, live: dict[str, Any] | None) -> None:
    if not live:
        return
    for row in live["instruments"]:
        inst = C.DefineInstrument(*row).instrument()
        state.live_instruments[inst.key] = inst
    state.paper_venues.update(live.get("paper", ()))
    for pname, exchange, contract, side, deal_id, lever, vol, cost, closing, realized in live.get("positions", ()):
        pos = LivePosition(state.products[pname], state.live_instruments[(exchange, contract)], side, deal_id, lever)
        pos.vol, pos.cost, pos.closing, pos.realized = vol, cost, closing, realized
        state.live_positions[pos.key] = pos
    for row in live["orders"]:
        (oid, pname, exchange, contract, side, ptype, price, vol, coid, time_ms, status, filled, dealt, commission,
         venue_oid, trades) = row[:16]
        product = state.products[pname]
        fdir, lever, deal_id = row[17:20] if len(row) > 17 else (0, 1, 0)
        tif = row[20] if len(row) > 20 else 0
        spec = OrderSpec(oid, pname, state.live_instruments[(exchange, contract)], side, ptype, price, vol, coid,
                         time_ms, tif, fdir, lever, 0, 0, deal_id)
        order = LiveOrder(spec, product, status)
        order.filled, order.dealt, order.commission, order.venue_oid = filled, dealt, commission, venue_oid
        order.trades = set(trades)
        if len(row) > 16 and row[16] is not None:  # a paper order: it pays from its spot account at the venue
            inst = spec.inst
            order.pay = product.account(exchange, AccountType.SPOT).bal(inst.quote if side == Side.BUY else inst.base)
            order.reserved = row[16]
        state.live_orders[oid] = product.live_orders[oid] = order
        if coid:
            product.coids[coid] = order
