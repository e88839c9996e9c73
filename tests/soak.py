"""The kill -9 soak, shared by ``tests/integration/test_soak.py`` (compressed, in ``make test``)
and ``bench/soak.py`` (as long as you like).

A real ``ceres serve`` with the liquidity simulator on takes mixed load from client threads:
spot limit orders on BTC/USDT and leveraged BTCUSDT_PERP opens and closes, with cancels of
earlier orders. It is SIGKILLed at a random moment, then:

1. ``ceres verify --full`` on the killed data directory: the state recovered from the newest
   snapshot equals a clean replay of the whole journal (same state hash), consistency ok;
2. the server restarts (the time is measured) and every acknowledged order is there, with
   a status consistent with what was acknowledged (an acknowledged cancel is canceled);
3. the admin ``audit`` reports the conservation identity holding for every currency.

Only a ``code 200`` reply counts as acknowledged; business refusals (nothing to close, not
enough margin) are legitimate and ignored; a transport error ends a client (the server died).
Every loop is bounded in count and time; only the server started here is killed, by PID.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ceres.client import RestClient
from ceres.domain.enums import OrderStatus
from tests.serverproc import ServerProcess

CONFIG = """
[journal]
fsync = true
snapshot_every = 300
keep_snapshots = 0          # everything retained: verify --full replays from seq 1
[simulator]
interval_ms = 100
"""
SPOT, PERP = "BTC/USDT", "BTCUSDT_PERP"
CHUNK = 15  # ids per trade/order query (the API's limit)
CANCELED = {int(OrderStatus.CANCELED), int(OrderStatus.PART_CANCELED)}
BENIGN = {"41001", "41002", "42001", "40403"}  # funds, nothing to close, finished, gone


@dataclass
class Figures:
    kills: int = 0
    acked_orders: int = 0
    acked_cancels: int = 0
    checked: int = 0
    conservation_checks: int = 0
    verify_runs: int = 0
    lost: int = 0
    restart_s: list[float] = field(default_factory=list)

    def summary(self) -> str:
        worst = max(self.restart_s, default=0.0)
        return (f"{self.kills} kills, {self.acked_orders} acknowledged orders and {self.acked_cancels} "
                f"cancels, {self.checked} order checks, {self.conservation_checks} conservation checks, "
                f"{self.verify_runs} full-replay verifications, {self.lost} lost; restart {worst:.2f} s at most")


class Trader(threading.Thread):
    """One product's client: spot and contract orders, cancels, closes. Records what was
    acknowledged; stops at ``deadline`` or the first transport error."""

    def __init__(self, client: RestClient, seed: int, deadline: float) -> None:
        super().__init__(daemon=True)
        self.c = client
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.acked: list[str] = []
        self.canceled: set[str] = set()
        self.unexpected: list[dict] = []
        self.error: BaseException | None = None

    def _ok(self, reply: dict) -> bool:
        if reply.get("code") == "200":
            return True
        if reply.get("code") not in BENIGN:
            self.unexpected.append(reply)
        return False

    def _step(self) -> None:
        rng, c = self.rng, self.c
        roll = rng.random()
        if roll < 0.2 and self.acked:
            oid = self.acked[rng.randrange(len(self.acked))]
            r = c.cancel(oid)
            if self._ok(r):
                self.canceled.update(x["system_oid"] for x in r["data"]["SUCCESS"])
            return
        side = "buy" if rng.random() < 0.5 else "sell"
        if roll < 0.6:
            offset = rng.randint(-40, 80)  # mostly passive, some crossing the simulator's quotes
            price = 30000 - offset if side == "buy" else 30000 + offset
            r = c.place(exchange="TEST", contract=SPOT, price_type="limit", entrust_bs=side,
                        entrust_price=f"{price}.{rng.randint(0, 99):02d}", entrust_vol=f"0.00{rng.randint(1, 9)}")
        elif roll < 0.85:
            offset = rng.randint(-50, 150)
            price = 30000 - offset if side == "buy" else 30000 + offset
            r = c.place(exchange="TEST", contract=PERP, price_type="limit", entrust_bs=side, future_dir="open",
                        lever="10", entrust_price=f"{price}.{rng.randint(0, 9)}", entrust_vol=str(rng.randint(1, 5)))
        else:
            r = c.close(exchange="TEST", contract=PERP, price_type="market", entrust_bs=side, future_dir="close",
                        entrust_vol=str(rng.randint(1, 3)), close_rule=rng.choice(("time", "risk")))
        if self._ok(r):
            self.acked += r["data"]["system_oid"].split(",")

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline:
                self._step()
        except Exception as exc:  # connection refused / reset: the server is gone
            self.error = exc


def fund(srv: ServerProcess, name: str) -> RestClient:
    """A product with a key, USDT and BTC on the TEST spot account and USDT on its contract
    account (through the admin endpoint, as an operator would)."""
    srv.admin("create_product", name=name)
    cred = srv.admin("create_key", product=name, permissions="read,trade")
    for cur, amount, to in (("USDT", "2000000", 3), ("BTC", "50", 3), ("USDT", "1000000", 4)):
        srv.admin("deposit", product=name, currency=cur, amount=amount)
        srv.admin("transfer", product=name, currency=cur, amount=amount, from_type=2, to_type=to, exchange="TEST")
    return RestClient(srv.http_url, cred["api_key"], cred["secret"], timeout=5.0)


def query(client: RestClient, ids: list[str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for i in range(0, len(ids), CHUNK):
        r = client.orders(system_oid=",".join(ids[i:i + CHUNK]))
        assert r["code"] == "200", r
        found.update((o["system_oid"], o) for o in r["data"])
    return found


def ceres(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ceres", *args], capture_output=True, text=True, timeout=300)


def verify_full(srv: ServerProcess) -> None:
    r = ceres("verify", str(srv.data_dir), "--full", "--config", str(srv.config_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"full replay hash:\s+[0-9a-f]{64} \(matches\)", r.stdout), r.stdout
    assert "consistency:      ok" in r.stdout, r.stdout


def check_conservation(srv: ServerProcess) -> int:
    """The admin audit: the identity holds for every currency. Returns how many were checked."""
    report = srv.admin("audit")
    currencies = report["currencies"]
    assert currencies and report["conservation_ok"], report
    assert all(row["conservation_ok"] for row in currencies), report
    return len(currencies)


def soak(root: Path, *, cycles: int, seed: int, traders: int = 2, run_s: tuple[float, float] = (0.6, 1.5),
         log: Callable[[str], None] = lambda _: None) -> Figures:
    rng = random.Random(seed)
    srv = ServerProcess(root / "data", config=CONFIG)
    figures = Figures()
    acked: dict[str, list[str]] = {}  # product -> acknowledged order ids, all cycles
    canceled: dict[str, set[str]] = {}
    srv.start()
    clients = {f"soak{i}": fund(srv, f"soak{i}") for i in range(traders)}
    try:
        for cycle in range(cycles):
            deadline = time.monotonic() + 30
            threads = {name: Trader(RestClient(srv.http_url, c.api_key, c.secret, timeout=5.0),
                                    rng.randrange(1 << 30), deadline) for name, c in clients.items()}
            for t in threads.values():
                t.start()
            time.sleep(rng.uniform(*run_s))
            srv.kill()
            figures.kills += 1
            for name, t in threads.items():
                t.join(15)
                assert not t.is_alive(), "client thread did not stop"
                assert not t.unexpected, t.unexpected[:3]
                acked.setdefault(name, []).extend(t.acked)
                canceled.setdefault(name, set()).update(t.canceled)
            verify_full(srv)
            figures.verify_runs += 1
            started = time.monotonic()
            srv.start()
            figures.restart_s.append(time.monotonic() - started)
            for name, old in clients.items():  # the restarted server listens on new ports
                client = clients[name] = RestClient(srv.http_url, old.api_key, old.secret, timeout=10.0)
                found = query(client, acked[name])
                missing = [oid for oid in acked[name] if oid not in found]
                figures.lost += len(missing)
                assert not missing, f"cycle {cycle}: {len(missing)} acknowledged orders lost, e.g. {missing[:5]}"
                wrong = [o for o in canceled[name] if int(found[o]["status"]) not in CANCELED]
                assert not wrong, f"cycle {cycle}: acknowledged cancels not canceled: {wrong[:5]}"
                figures.checked += len(found)
            figures.conservation_checks += check_conservation(srv)
            log(f"cycle {cycle + 1}/{cycles}: {sum(len(a) for a in acked.values())} acknowledged so far, "
                f"restart {figures.restart_s[-1]:.2f} s")
        figures.acked_orders = sum(len(a) for a in acked.values())
        figures.acked_cancels = sum(len(c) for c in canceled.values())
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.stop()
    verify_full(srv)
    figures.verify_runs += 1
    return figures
