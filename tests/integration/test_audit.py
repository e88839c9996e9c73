"""The money audit against a real server with the liquidity simulator running: the admin
``audit`` operation, ``/metrics`` and ``ceres audit`` (through the admin endpoint while the
server runs, on the data directory once it is stopped) agree with the deposits and
withdrawals made through the admin API, the demo's funding and the simulator's top-ups,
and say that conservation holds.

Figures that move while the simulator trades (balances, fees) are compared only through
the identity each reply states for itself; deposits, withdrawals and top-ups do not move.
Polling loops are bounded in count and time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal

import pytest

from tests.serverproc import ServerProcess

# [demo.funds] + [demo.contract_funds] and twice [simulator.funds] (spot and contract account)
DEMO = {"USDT": Decimal(2_000_000), "BTC": Decimal(200), "ETH": Decimal(1000), "ADA": Decimal(10_000_000)}
SIM = {"USDT": Decimal(200_000_000), "BTC": Decimal(20_000), "ETH": Decimal(200_000), "ADA": Decimal(2_000_000_000)}
MINE_IN = {"USDT": Decimal("123.45"), "BTC": Decimal("0.5")}
MINE_OUT = {"USDT": Decimal("0.45")}
FLOWS = ("deposits", "withdrawals", "topups")


def ceres(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ceres", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "250"})


def expected_flows(cur: str) -> dict[str, Decimal]:
    return {"deposits": DEMO.get(cur, 0) + MINE_IN.get(cur, 0), "withdrawals": MINE_OUT.get(cur, Decimal(0)),
            "topups": SIM.get(cur, Decimal(0))}


def by_currency(report: dict) -> dict[str, dict]:
    return {row["currency"]: row for row in report["currencies"]}


def check_identity(row: dict) -> None:
    """The figures a reply shows add up, exactly, the way it says they do."""
    d = {k: Decimal(v) for k, v in row.items() if k not in ("currency", "conservation_ok")}
    assert d["held"] == d["balances"] + d["fees"] + d["insurance_fund"] + d["open_pnl_pool"], row
    assert d["net_deposits"] == (d["deposits"] + d["topups"] + d["covered_by_venue"] + d["carried"]
                                 - d["withdrawals"]), row
    assert row["conservation_ok"] is True and d["held"] == d["net_deposits"], row
    assert d["insurance_fund"] >= 0 and d["carried"] == 0 and d["frozen"] <= d["balances"], row


def metrics(server: ServerProcess) -> dict[tuple[str, str], Decimal]:
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = re.findall(r'^ceres_(audit_\w+|conservation_ok)\{currency="(\w+)"\} (\S+)$', text, re.M)
    return {(name, cur): Decimal(value) for name, cur, value in found}


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("audit") / "data", extra_args=()).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the simulator funds itself as it starts
            if Decimal(by_currency(server.admin("audit"))["ADA"]["topups"]) == SIM["ADA"]:
                break
            time.sleep(0.2)
        server.admin("create_product", name="auditor")
        for cur, amount in MINE_IN.items():
            server.admin("deposit", product="auditor", currency=cur, amount=str(amount))
        for cur, amount in MINE_OUT.items():
            server.admin("withdraw", product="auditor", currency=cur, amount=str(amount))
        yield server
    finally:
        server.stop()


def test_admin_audit_counts_deposits_withdrawals_and_top_ups_and_conservation_holds(running):
    report = running.admin("audit")
    rows = by_currency(report)
    assert sorted(rows) == ["ADA", "BTC", "ETH", "USDT"]
    assert report["conservation_ok"] is True and report["seq"] > 0
    for cur, row in rows.items():
        assert {k: Decimal(row[k]) for k in FLOWS} == expected_flows(cur), cur
        check_identity(row)
    # the simulator traded contracts by now, so USDT has margins and fees in it
    assert Decimal(rows["USDT"]["fees"]) != 0


def test_metrics_show_the_same_flows_and_conservation(running):
    m = metrics(running)
    for cur in ("ADA", "BTC", "ETH", "USDT"):
        for name, value in expected_flows(cur).items():
            assert m[(f"audit_{name}", cur)] == value, (cur, name)
        assert m[("conservation_ok", cur)] == 1
        assert m[("audit_insurance_fund", cur)] >= 0
        assert m[("audit_covered_by_venue", cur)] == 0
        # the identity, from one scrape
        held = sum(m[(f"audit_{f}", cur)] for f in ("balances", "fees", "insurance_fund", "open_pnl_pool"))
        assert held == m[("audit_held", cur)] == m[("audit_net_deposits", cur)]


def test_ceres_audit_goes_through_the_running_server(running):
    table = ceres("audit", "--data-dir", str(running.data_dir))
    assert table.returncode == 0, table.stderr
    assert "conservation: holds" in table.stdout
    for word in ("USDT", "BTC", "ETH", "ADA", "deposits", "topups", "insurance_fund", "200000000", "2000123.45"):
        assert word in table.stdout, word
    as_json = ceres("audit", "--json", "--data-dir", str(running.data_dir))
    assert as_json.returncode == 0, as_json.stderr
    rows = by_currency(json.loads(as_json.stdout))
    for cur, row in rows.items():
        assert {k: Decimal(row[k]) for k in FLOWS} == expected_flows(cur)
        check_identity(row)


def test_ceres_audit_on_the_stopped_data_directory(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data, extra_args=("--no-simulator",)).start()
    try:
        server.admin("create_product", name="auditor")
        server.admin("deposit", product="auditor", currency="USDT", amount="5.5")
    finally:
        server.stop()
    out = ceres("audit", "--json", "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    rows = by_currency(json.loads(out.stdout))
    assert Decimal(rows["USDT"]["deposits"]) == DEMO["USDT"] + Decimal("5.5")
    assert Decimal(rows["USDT"]["topups"]) == 0  # no simulator this time
    for row in rows.values():
        check_identity(row)
