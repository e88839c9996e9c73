"""The money audit: per currency, every figure of the conservation identity and whether it
holds right now.

Money enters the venue as deposits, simulator top-ups (the liquidity simulator funding its
own product), the venue's cover of losses its insurance fund could not take, and paper
trades with a live venue's market (``outside``: what paper fills received less what they
paid, ``engine.paper``); it leaves as withdrawals. Inside, it sits in balances (``frozen``
included: open orders and position margins), the venue's fees, the insurance fund, and the open-PnL pool of contract
positions (``engine.positions.pool_term``: what open positions will settle among
themselves). The identity, exact in minor units::

    balances + fees + insurance + pnl_pool == net_deposits
    net_deposits == carried + deposits + topups + covered + outside - withdrawals

``carried`` is what a snapshot written before these totals were kept held as net deposits
(0 on a data directory that started with them). ``Engine.check`` reports a currency whose
identity fails; the admin endpoint, ``ceres audit`` and ``/metrics`` show the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from ceres.engine.positions import pool_term
from ceres.engine.state import State


@dataclass(frozen=True, slots=True)
class CurrencyAudit:
    """The figures of one currency, in its minor units."""

    currency: str
    balances: int        # sum of all balance totals, frozen included
    frozen: int          # of which frozen by open orders and position margins
    margins: int         # of which held as position margins
    fees: int            # the venues' fees collected (rebates paid out subtracted)
    insurance: int       # the insurance funds
    pnl_pool: int        # open-PnL pool of the open positions
    deposits: int
    withdrawals: int
    topups: int          # simulator top-ups
    covered: int         # paid in by the venue where the insurance fund fell short
    net_deposits: int
    outside: int = 0     # net in from live markets through paper trades (negative: net out)

    @property
    def carried(self) -> int:
        """Net deposits from before the flows were kept (a snapshot without them)."""
        return self.net_deposits - self.deposits - self.topups - self.covered - self.outside + self.withdrawals

    @property
    def held(self) -> int:
        return self.balances + self.fees + self.insurance + self.pnl_pool

    @property
    def ok(self) -> bool:
        """The conservation identity holds."""
        return self.held == self.net_deposits


def audit(state: State) -> dict[str, CurrencyAudit]:
    """The audit of every currency configured or holding money, by currency name."""
    balances: dict[str, int] = {}
    frozen: dict[str, int] = {}
    for product in state.products.values():
        for _, cur, bal in product.iter_balances():
            balances[cur] = balances.get(cur, 0) + bal.total
            frozen[cur] = frozen.get(cur, 0) + bal.frozen
    margins: dict[str, int] = {}
    pool: dict[str, int] = {}
    for pos in state.contracts.positions.values():
        inst = pos.inst
        cur = inst.settle
        margins[cur] = margins.get(cur, 0) + pos.margin
        pool[cur] = pool.get(cur, 0) + pool_term(inst, pos.side, pos.cost)
    insurance: dict[str, int] = {}
    for (_, cur), amount in state.contracts.insurance.items():
        insurance[cur] = insurance.get(cur, 0) + amount
    ledger = state.ledger
    fees = ledger.fees_by_currency()
    covered = ledger.covered_by_currency()
    figures = (balances, frozen, margins, fees, insurance, pool, ledger.deposits, ledger.withdrawals,
               ledger.topups, covered, ledger.net_deposits, ledger.outside_by_currency())
    currencies = set(state.currencies).union(*figures)
    return {cur: CurrencyAudit(cur, *(f.get(cur, 0) for f in figures)) for cur in sorted(currencies)}
