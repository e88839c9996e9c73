"""Contract-only engine state.

:class:`ContractState` holds positions (also indexed per product, contract and side, in
opening order, for the close rules), index prices, last trade prices, funding rates and
times, expired contracts, the insurance fund per (venue, currency; never negative), and the
trigger heaps (managed by ``engine.marks``). Its snapshot form is in ``engine.snapshot``;
the trigger heaps are rebuilt from the positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ceres.domain.instruments import Instrument
from ceres.engine.positions import Position

if TYPE_CHECKING:
    from ceres.engine.ledger import Ledger

Key = tuple[str, str]
TriggerEntry = tuple[int, int, int]  # (signed trigger price, deal id, trigger kind)


class ContractState:
    """Contract-only state held by the engine."""

    def __init__(self) -> None:
        self.positions: dict[int, Position] = {}
        self.index: dict[Key, int] = {}
        self.last: dict[Key, int] = {}
        self.funding_rates: dict[Key, int] = {}
        self.last_funding: dict[Key, int] = {}
        self.expired: set[Key] = set()
        self.insurance: dict[Key, int] = {}
        self.triggers: dict[Key, list[list[TriggerEntry]]] = {}  # see marks.heaps
        self.armed = 0                                  # trigger entries pushed since the last rebuild
        self.liquidating: set[int] = set()             # oids of liquidation orders (transient)
        # (product, instrument key, side) -> positions in opening order: close rules read this
        self.holdings: dict[tuple[str, Key, int], dict[int, Position]] = {}

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

    def add_insurance(self, inst: Instrument, amount: int, ledger: Ledger) -> None:
        """Book ``amount`` to the venue's insurance fund (negative: a deficit it covers).
        The fund never goes below zero: a draw beyond what it holds is paid in by the venue
        (``Ledger.cover``); the trading rules keep such draws to the cases ADL cannot
        prevent (``engine.liquidation``)."""
        key = (inst.exchange, inst.settle)
        fund = self.insurance.get(key, 0) + amount
        if fund < 0:
            ledger.cover(inst.exchange, inst.settle, -fund)
            fund = 0
        self.insurance[key] = fund
