"""A Ceres cluster for tests: NATS nodes (``tests.natsproc``), engines, gateways and projectors
as real processes on loopback, each with its own data directory and the same master key."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.integration.api_helpers import Rest
from tests.serverproc import ServerProcess

ORDER = {"exchange": "TEST", "contract": "BTC/USDT", "price_type": "limit", "entrust_bs": "buy",
         "entrust_vol": "0.001"}


def cluster_config(urls: list[str], stream: str, replicas: int, extra: str = "") -> str:
    servers = ", ".join(f'"{u}"' for u in urls)
    return (f'[journal]\nbackend = "jetstream"\n[journal.jetstream]\nservers = [{servers}]\nstream = "{stream}"\n'
            f'replicas = {replicas}\nlease_ms = 2000\ntimeout_ms = 3000\n{extra}')


class Cluster:
    def __init__(self, root: Path, urls: list[str], *, stream: str = "CL", replicas: int = 1, extra: str = "") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config = cluster_config(urls, stream, replicas, extra)
        self.env = {"CERES_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
        self.procs: list[ServerProcess] = []

    def start(self, name: str, role: str, *extra: str, config: str = "") -> ServerProcess:
        """``config``: more of the process's configuration (e.g. its ``[store]``)."""
        proc = ServerProcess(self.root / name, config=self.config + config, env=self.env,
                             extra_args=("--role", role, "--no-simulator", *extra))
        self.procs.append(proc)
        return proc.start(timeout=60)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception:
                proc.kill()


def engines_and_gateway(cl: Cluster) -> tuple[list[ServerProcess], ServerProcess, Rest]:
    """Two engines (the first leading, the second its standby) and a gateway; a REST client of
    the demo key on the gateway."""
    engines = [cl.start("engine-a", "engine")]
    leader_of(engines)
    engines.append(cl.start("engine-b", "engine"))
    gw = cl.start("gateway", "gateway")
    d = demo_of(engines)
    return engines, gw, Rest(gw.http_url, d["api_key"], d["secret"])


def health(proc: ServerProcess) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{proc.http_url}/health", timeout=5) as resp:
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as err:
        return dict(json.loads(err.read()))


def leader_of(engines: list[ServerProcess], timeout: float = 20.0) -> ServerProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in engines:
            if e.proc is not None and e.proc.poll() is None and health(e).get("leading"):
                return e
        time.sleep(0.1)
    raise TimeoutError("no engine leads")


def demo_of(engines: list[ServerProcess]) -> dict[str, str]:
    """The demo credentials, written by whichever engine led first."""
    for e in engines:
        path = e.data_dir / "demo-credentials.json"
        if path.exists():
            return dict(json.loads(path.read_text()))
    raise FileNotFoundError("no engine bootstrapped the demo")


class OrderFlow:
    """Places orders through a gateway from a thread, one at a time, recording what was
    acknowledged, what was refused (by code) and when."""

    def __init__(self, rest: Rest, *, limit: int = 5000, seconds: float = 120.0) -> None:
        self.rest = rest
        self.limit, self.seconds = limit, seconds
        self.acked: list[tuple[float, str, str]] = []  # (time, system_oid, client_oid)
        self.refused: dict[str, int] = {}
        self.unknown: list[str] = []  # client_oids whose outcome the gateway could not tell
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> OrderFlow:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        for i in range(self.limit):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            client_oid = f"f{i}"
            try:
                _, reply = self.rest.call("POST", "trade/input", {**ORDER, "entrust_price": str(20000 + i % 500),
                                                                      "client_oid": client_oid})
            except OSError:
                self.unknown.append(client_oid)
                time.sleep(0.05)
                continue
            code = reply.get("code") if isinstance(reply, dict) else None
            if code == "200":
                self.acked.append((time.monotonic(), str(reply["data"]["system_oid"]), client_oid))
            else:
                self.refused[str(code)] = self.refused.get(str(code), 0) + 1
                if "may have been applied" in str(reply.get("message", "")):
                    self.unknown.append(client_oid)
                time.sleep(0.05)

    def acked_after(self, t: float) -> list[tuple[float, str, str]]:
        return [a for a in self.acked if a[0] > t]

    def wait_acked_after(self, t: float, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked_after(t)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.acked_after(t))} acknowledged after the event; refused {self.refused}")
            time.sleep(0.05)


def orders_by_id(rest: Rest, oids: list[str]) -> dict[str, dict[str, Any]]:
    """The orders as the API shows them (15 ids per request)."""
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(oids), 15):
        status, reply = rest.call("GET", "trade/order", {"system_oid": ",".join(oids[i:i + 15])})
        assert status == 200 and reply["code"] == "200", reply
        found.update({str(o["system_oid"]): o for o in reply["data"]})
    return found


def open_orders(rest: Rest) -> list[dict[str, Any]]:
    """Every open order of the product on TEST BTC/USDT (``trade/open_orders``, page by page)."""
    out: list[dict[str, Any]] = []
    start = ""
    for _ in range(1000):
        params = {"exchange": "TEST", "contract": "BTC/USDT", "limit": "100", **({"from": start} if start else {})}
        status, reply = rest.call("GET", "trade/open_orders", params)
        assert status == 200 and reply["code"] == "200", reply
        page = reply["data"]
        out += page["orderDetailRes"]
        start = page.get("nextFrom") or ""
        if not start:
            return out
    raise AssertionError("open_orders did not end")
