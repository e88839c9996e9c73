"""Contract-only engine state and its snapshot form.

:class:`ContractState` holds positions (also indexed per product, contract and side, in
opening order, for the close rules), index prices, last trade prices, funding rates and
times, expired contracts, the insurance fund per (venue, currency), and the trigger heaps
(``engine.triggers``). ``state``/``restore`` turn it into canonical data and back; the
trigger heaps are rebuilt from the positions.
"""

from __future__ import annotations

from typing import Any

from ceres.domain.enums import AccountType
from ceres.domain.instruments import Instrument
from ceres.engine import triggers
from ceres.engine.positions import Position, force_price

CONTRACT = int(AccountType.CONTRACT)


class ContractState:
    """Contract-only state held by the engine."""

    def __init__(self) -> None:
        self.positions: dict[int, Position] = {}
        self.index: dict[tuple[str, str], int] = {}
        self.last: dict[tuple[str, str], int] = {}
        self.funding_rates: dict[tuple[str, str], int] = {}
        self.last_funding: dict[tuple[str, str], int] = {}
        self.expired: set[tuple[str, str]] = set()
        self.insurance: dict[tuple[str, str], int] = {}
        self.triggers: dict[tuple[str, str], list[list]] = {}  # see _heaps
        self.armed = 0                                  # trigger entries pushed since the last rebuild
        self.liquidating: set[int] = set()             # oids of liquidation orders (transient)
        # (product, instrument key, side) -> positions in opening order: close rules read this
        self.holdings: dict[tuple[str, tuple[str, str], int], dict[int, Position]] = {}

    def hold(self, pos: Position) -> None:
        self.positions[pos.deal_id] = pos
        pos.product.positions[pos.deal_id] = pos
        key = (pos.product.name, (pos.inst.exchange, pos.inst.contract), pos.side)
        self.holdings.setdefault(key, {})[pos.deal_id] = pos

    def release(self, pos: Position) -> None:
        del self.positions[pos.deal_id]
        del pos.product.positions[pos.deal_id]
        key = (pos.product.name, (pos.inst.exchange, pos.inst.contract), pos.side)
        held = self.holdings[key]
        del held[pos.deal_id]
        if not held:
            del self.holdings[key]

    def add_insurance(self, inst: Instrument, amount: int) -> None:
        key = (inst.exchange, inst.settle)
        self.insurance[key] = self.insurance.get(key, 0) + amount


def state(eng) -> dict[str, Any]:
    cs = eng.contracts
    return {
        "positions": [p.to_state() for _, p in sorted(cs.positions.items())],
        "index": sorted([k[0], k[1], v] for k, v in cs.index.items()),
        "last": sorted([k[0], k[1], v] for k, v in cs.last.items()),
        "funding_rates": sorted([k[0], k[1], v] for k, v in cs.funding_rates.items()),
        "last_funding": sorted([k[0], k[1], v] for k, v in cs.last_funding.items()),
        "expired": sorted([k[0], k[1]] for k in cs.expired),
        "insurance": sorted([k[0], k[1], v] for k, v in cs.insurance.items()),
    }


def restore(eng, data: dict[str, Any]) -> None:
    cs = eng.contracts
    for row in data["positions"]:
        (deal, pname, exch, contract, side, vol, cost, margin, lever, realized, tp, sl, oid,
         opened, closing) = row
        product = eng.products[pname]
        inst = eng.instruments[(exch, contract)]
        pos = Position(deal, product, inst, side, lever, tp, sl, oid, opened,
                       product.account(exch, CONTRACT).bal(inst.settle))
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
    triggers.rearm_all(cs)

