"""The first-start demo and the start-up banner.

On the first start with ``[demo] enabled``, a demo product and key are created and funded
on the first simulated exchange (``TEST``) through the same journaled commands an
operator would use; the credentials are kept in ``DATA_DIR/demo-credentials.json``
(mode 0600, the one file in the data directory that holds a secret in plain text: the
demo's, on purpose) and printed once, on the terminal only: the banner shows the secret
when standard output is a terminal (``show_secret``), and otherwise only where it is, so
it never lands in a service's log. Later starts print the key and where the secret is.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ceres.config import Config
from ceres.domain import commands as C
from ceres.engine.core import Engine
from ceres.gateway.admin import AdminOps, Seal

DEMO_FILE = "demo-credentials.json"
ADMIN_FILE = "admin.json"


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON with mode 0600, atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


async def bootstrap_demo(cfg: Config, engine: Engine, submit: Callable[[C.Command], Awaitable[Any]],
                         root: Path, seal: Seal) -> dict[str, Any] | None:
    """The demo credentials (``first``: created now), or None when the demo is off."""
    demo = cfg.demo
    path = root / DEMO_FILE
    if not demo.enabled:
        return None
    if demo.product in engine.products:
        if path.exists():
            return {**json.loads(path.read_text()), "first": False}
        return None
    ops = AdminOps(engine, submit, seal, require_timestamp_default=cfg.auth.require_timestamp_default)
    await ops.create_product(demo.product)
    cred = await ops.create_key(demo.product, "read,trade")
    exchange = next(iter(sorted(engine.exchanges)), "TEST")
    for funds, account_type in ((demo.funds, 3), (demo.contract_funds, 4)):
        for currency, amount in funds.items():
            await ops.deposit(demo.product, currency, amount)
            await ops.transfer(demo.product, currency, amount, 2, account_type, exchange)
    write_private(path, {"product": demo.product, "api_key": cred["api_key"], "secret": cred["secret"]})
    return {**cred, "first": True}


def demo_lines(root: Path, demo: dict[str, Any], *, show_secret: bool = False) -> list[str]:
    """The demo credentials as the banner shows them: the secret only on the first start and on
    a terminal (``show_secret``), else where it is kept."""
    if demo.get("first") and show_secret:
        return [f"Demo product {demo['product']!r} created and funded on TEST:",
                f"  api_key {demo['api_key']}",
                f"  secret  {demo['secret']}"]
    if demo.get("first"):
        return [f"Demo product {demo['product']!r} created and funded on TEST:",
                f"  api_key {demo['api_key']}",
                f"  secret  in {root / DEMO_FILE} (printed only on a terminal)"]
    return [f"Demo api_key {demo['api_key']} (secret in {root / DEMO_FILE})"]


def banner(host: str, ports: dict[str, int], root: Path, demo: dict[str, Any] | None, *,
           show_secret: bool = False, generated_master: Path | None = None, tls: bool = False) -> str:
    http, ws = ("https", "wss") if tls else ("http", "ws")
    lines = [
        f"Ceres is running (data in {root})",
        f"  REST       {http}://{host}:{ports['http']}/api/v1/   health: {http}://{host}:{ports['http']}/health",
        f"  trade WS   {ws}://{host}:{ports['trade_ws']}/",
    ]
    if ports["notify_ws"]:
        lines.append(f"  notices WS {ws}://{host}:{ports['notify_ws']}/")
    if ports["market_ws"]:
        lines.append(f"  market WS  {ws}://{host}:{ports['market_ws']}/")
    lines.append(f"  admin      http://127.0.0.1:{ports['admin']}/ (token in {root / ADMIN_FILE})")
    if generated_master is not None:
        lines.append(f"Master key generated: {generated_master} (0600). API secrets are sealed with it: "
                     "keep it, and keep it out of copies of the data directory")
    if demo is not None:
        lines += demo_lines(root, demo, show_secret=show_secret)
        lines.append("Try it:  " + try_it(root, demo, f"{http}://{host}:{ports['http']}",
                                          reveal=bool(demo.get("first")) and show_secret))
    return "\n".join(lines)


def try_it(root: Path, demo: dict[str, Any], base_url: str, *, reveal: bool) -> str:
    """A shell command that works as printed: a signed ``basic/contracts`` request with the demo
    key. The secret is in it only when the banner shows it anyway; otherwise the command reads
    it from the credentials file (python3, as ``make run`` needs)."""
    if reveal:
        secret = demo["secret"]
    else:
        path = shlex.quote(str(root / DEMO_FILE))
        secret = f"\"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"secret\"])' {path})\""
    return (f"curl -s -H 'api_key: {demo['api_key']}' -H \"sign: $(printf 'exchange=TEST&secret=%s' {secret} "
            f"| sha256sum | cut -d' ' -f1)\" '{base_url}/api/v1/basic/contracts?exchange=TEST'")
