"""The money audit as the operator sees it: the admin ``audit`` operation (JSON, also what
``ceres audit`` prints) and the ``/metrics`` gauges, both from ``engine.audit``.

Per currency, as decimal strings in the currency's units: ``balances`` (every balance,
frozen included), ``frozen`` and ``margins`` (parts of it), ``fees`` (the venues' fees
collected), ``insurance_fund``, ``open_pnl_pool`` (open positions' share), ``deposits``,
``withdrawals``, ``topups`` (the liquidity simulator funding itself), ``covered_by_venue``
(what the venue paid in where its insurance fund fell short), ``carried`` (net deposits
from a snapshot older than these totals), ``net_deposits`` and ``held`` (the two sides
of the identity), and ``conservation_ok``: whether ``held == net_deposits`` right now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ceres.domain.money import format_scaled
from ceres.engine.audit import CurrencyAudit, audit
from ceres.engine.state import State

FIGURES: tuple[tuple[str, str, Callable[[CurrencyAudit], int]], ...] = (
    ("balances", "Sum of all balances, frozen included.", lambda a: a.balances),
    ("frozen", "Part of the balances frozen by open orders and position margins.", lambda a: a.frozen),
    ("margins", "Part of the balances held as position margins.", lambda a: a.margins),
    ("fees", "Fees collected by the venues (rebates subtracted).", lambda a: a.fees),
    ("insurance_fund", "Insurance funds (never negative).", lambda a: a.insurance),
    ("open_pnl_pool", "Open-PnL pool of the open contract positions.", lambda a: a.pnl_pool),
    ("deposits", "Deposits.", lambda a: a.deposits),
    ("withdrawals", "Withdrawals.", lambda a: a.withdrawals),
    ("topups", "Liquidity simulator top-ups.", lambda a: a.topups),
    ("covered_by_venue", "Paid in by the venue where its insurance fund fell short.", lambda a: a.covered),
    ("paper_outside", "Net received from live markets by paper trades (negative: paid out).", lambda a: a.outside),
    ("carried", "Net deposits carried from a snapshot older than these totals.", lambda a: a.carried),
    ("net_deposits", "Deposits + top-ups + covered + paper outside + carried - withdrawals.", lambda a: a.net_deposits),
    ("held", "Balances + fees + insurance funds + open-PnL pool.", lambda a: a.held),
)


def audit_report(state: State) -> dict[str, Any]:
    """The admin ``audit`` reply: every currency's figures and the identity's state."""
    rows = []
    for cur, a in audit(state).items():
        dec = state.currencies.get(cur, 0)
        rows.append({"currency": cur, **{name: format_scaled(get(a), dec) for name, _, get in FIGURES},
                     "conservation_ok": a.ok})
    return {"seq": state.seq, "conservation_ok": all(r["conservation_ok"] for r in rows), "currencies": rows}


def audit_metric_lines(state: State) -> list[str]:
    """Prometheus gauges ``ceres_audit_<figure>{currency=...}`` and
    ``ceres_conservation_ok{currency=...}`` (1 or 0)."""
    audits = audit(state)
    lines: list[str] = []
    for name, help_, get in FIGURES:
        lines += [f"# HELP ceres_audit_{name} {help_}", f"# TYPE ceres_audit_{name} gauge"]
        lines += [f'ceres_audit_{name}{{currency="{cur}"}} {format_scaled(get(a), state.currencies.get(cur, 0))}'
                  for cur, a in audits.items()]
    lines += ["# HELP ceres_conservation_ok 1 while balances + fees + insurance + open-PnL pool equal net "
              "deposits, else 0.", "# TYPE ceres_conservation_ok gauge"]
    lines += [f'ceres_conservation_ok{{currency="{cur}"}} {int(a.ok)}' for cur, a in audits.items()]
    return lines
