"""``ceres venues connect | list | disconnect``: a product's keys at live exchanges
(docs/venues.md). Like the other admin commands they go through the running server's admin
endpoint, or open the data directory when it is stopped. The secret (and OKEX's
passphrase) can be typed at a hidden prompt instead of on the command line, where a shell
history would keep it; they are never printed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

Admin = Callable[[str, dict[str, Any], Path | None, Path | None], Any]
Table = Callable[[list[dict[str, Any]], str | None], None]


def register(app: typer.Typer, admin: Admin, out: Console, table: Table, config_opt: Any, data_dir_opt: Any) -> None:
    venues_app = typer.Typer(no_args_is_help=True, help="Keys at live exchanges (BINANCE, OKEX, HUOBI, BITFINEX).")
    app.add_typer(venues_app, name="venues")

    @venues_app.command("connect")
    def connect(product: str, exchange: str,
                api_key: str = typer.Option(..., "--api-key", help="The key the venue issued."),
                secret: str = typer.Option(None, "--secret", help="Its secret (asked for, hidden, if left out)."),
                password: str = typer.Option(None, "--password", help="The passphrase (OKEX; asked for there)."),
                config: Path | None = config_opt, data_dir: Path | None = data_dir_opt) -> None:
        """Store a product's key at an exchange (sealed), after one read call there when it can be reached."""
        name = exchange.upper()
        if secret is None:
            secret = typer.prompt("secret", hide_input=True)
        if password is None and name == "OKEX":
            password = typer.prompt("passphrase", hide_input=True)
        args = {"product": product, "exchange": name, "api_key": api_key, "secret": secret}
        if password is not None:
            args["password"] = password
        r = admin("connect_venue", args, config, data_dir)
        out.print(f"{r['product']} connected to {r['exchange']} with api_key {r['api_key']}; key check: "
                  f"{r['key_check']}", markup=False, highlight=False)

    @venues_app.command("list")
    def list_(product: str = typer.Argument(None, help="Only this product."),
              config: Path | None = config_opt, data_dir: Path | None = data_dir_opt) -> None:
        """Which products have keys at which exchanges (never a secret)."""
        table(admin("list_venues", {"product": product} if product else {}, config, data_dir), None)

    @venues_app.command("disconnect")
    def disconnect(product: str, exchange: str, config: Path | None = config_opt,
                   data_dir: Path | None = data_dir_opt) -> None:
        """Remove a product's key at an exchange."""
        r = admin("disconnect_venue", {"product": product, "exchange": exchange.upper()}, config, data_dir)
        out.print(f"{r['product']} disconnected from {r['exchange']}", markup=False, highlight=False)
