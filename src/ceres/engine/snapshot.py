"""Canonical engine state: the content of snapshots and the input of the state hash.

``engine_state`` turns the engine into plain, deterministically ordered data (sorted
keys; resting orders in book priority order, best price first, then time), and
``restore_engine`` rebuilds an equal engine from it. Encoding is MessagePack; secrets are
stored as plain text, so snapshot files are written with mode 0600.
"""

from __future__ import annotations

from typing import Any

from ceres.domain.enums import AccountType
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import Instrument
from ceres.domain.secret import Secret
from ceres.engine import contract_state, contracts, spot
from ceres.engine.ledger import ApiKey, Product
from ceres.engine.orders import Order

STATE_VERSION = 3


def engine_state(eng) -> dict[str, Any]:
    products = []
    for name in sorted(eng.products):
        p = eng.products[name]
        balances = [[acc.venue, acc.type, cur, bal.total, bal.frozen]
                    for acc, cur, bal in p.iter_balances()]
        products.append([name, p.created, balances, p.notices])
    keys = [[k.api_key, k.secret, k.product.name, k.permissions, k.created, k.revoked]
            for _, k in sorted(eng.keys.items())]
    books = []
    for key in sorted(eng.books):
        book = eng.books[key]
        books.append([key[0], key[1], [o.to_state() for o in book.resting()]])
    return {
        "version": STATE_VERSION,
        "seq": eng.seq,
        "now": eng.now,
        "last_id": eng.ids.last,
        "products": products,
        "keys": keys,
        "fees": sorted([v, c, a] for (v, c), a in eng.ledger.fees.items()),
        "net_deposits": sorted([c, a] for c, a in eng.ledger.net_deposits.items()),
        "books": books,
        "contracts": contract_state.state(eng),
    }


def restore_engine(eng, state: dict[str, Any]) -> None:
    """Load ``state`` into a freshly constructed engine with the same instruments."""
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"snapshot version {state.get('version')} is not {STATE_VERSION}")
    eng.seq, eng.now, eng.ids.last = state["seq"], state["now"], state["last_id"]
    for name, created, balances, notices in state["products"]:
        product = eng.products[name] = Product(name, created)
        product.notices = notices
        for venue, type_, cur, total, frozen in balances:
            bal = product.account(venue, AccountType(type_)).bal(cur)
            bal.total, bal.frozen = total, frozen
    for api_key, secret, pname, perms, created, revoked in state["keys"]:
        eng.keys[api_key] = ApiKey(api_key, Secret(secret), eng.products[pname], perms, created, revoked)
    for venue, cur, amount in state["fees"]:
        eng.ledger.fees[(venue, cur)] = amount
    for cur, amount in state["net_deposits"]:
        eng.ledger.net_deposits[cur] = amount
    instruments: dict[tuple[str, str], Instrument] = eng.instruments
    contract_state.restore(eng, state["contracts"])
    for exchange, contract, rows in state["books"]:
        if (exchange, contract) not in instruments:
            raise CeresError(ErrorCode.UNKNOWN_CONTRACT,
                             f"snapshot holds orders on {exchange} {contract}, which the config lacks")
        book = eng.books[(exchange, contract)]
        for row in rows:
            order = Order.from_state(row, eng.products, instruments)
            (contracts.bind if order.inst.is_contract else spot.bind)(order)
            book.side_of(order.side).add(order, order.vol - order.filled)
            eng.register_open(order)
