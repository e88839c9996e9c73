"""Build the ccxt async exchange for one live venue, the same way for production and for tests.

What every instance gets (all read in ccxt 4.5.90, ``ccxt/async_support/...``):

- ``number=str``: parsers return decimal strings instead of floats (``base/exchange.py``
  ``Exchange.number`` / ``parse_number``). Verified against the fake venues
  (``tests/unit/venues/test_factory.py``): orders, trades, fees, balances and market
  precision/limits are strings. Not honoured: a market's ``taker``/``maker`` (floats from ccxt's
  static fee table); timestamps stay ``int``. The strings keep the venue's spelling where ccxt copies
  them (Binance ``"0.50000000"``) and are normalised where ccxt computes them (``total``,
  ``remaining``: ``"0.5"``), so compare them as ``Decimal``. ``None`` where the venue said nothing
  (the OKX create reply has no status/amount/filled).
- ``options["maxRetriesOnFailure"] = 0``: ``Exchange.fetch2`` would otherwise re-send any
  request that failed with ``OperationFailed``, placements included.
- Binance ``options["fetchOpenOrders"]["warnWithoutSymbol"] = False`` (``binance.fetch_open_orders``
  raises an ExchangeError "WARNING" without it), ``options["fetchMarkets"]["types"]`` limited to the
  ``default_type`` (``binance.fetch_markets``: ``spot`` -> only ``GET /api/v3/exchangeInfo``),
  ``fetchMargins=False`` (else ``fetch_markets`` also calls ``sapi/v1/margin/allPairs`` and
  ``margin/isolated/allPairs`` once keys are set) and ``fetchCurrencies=False`` (else
  ``load_markets`` calls the private ``sapi/v1/capital/config/getall``).
- OKX ``options["fetchMarkets"]["types"]`` likewise (``okx.fetch_markets``: ``spot`` ->
  ``GET /api/v5/public/instruments?instType=SPOT``) and ``options["createOrder"] =
  "privatePostTradeOrder"`` (the default is ``privatePostTradeBatchOrders``; ``okx.create_order``).
  With keys, ``okx.load_markets`` also calls ``GET /api/v5/asset/currencies`` (``okx.fetch_currencies``).

Client order ids: ccxt adds a broker id only when the caller gives none. Binance:
``binance.create_order_request`` and ``binance.handle_client_order_id`` (called from ``sign``) use
``generate_client_order_id`` = ``options["broker"][type]`` (``x-TKT5PX2F`` spot) + 22 random chars
only if neither ``clientOrderId`` nor ``newClientOrderId`` is in params. OKX:
``okx.create_order_request`` and ``okx.sign`` add ``clOrdId = brokerId + uuid16`` and
``tag = brokerId`` (``options["brokerId"] = "6b9ad766b55dBCDE"``) only when ``clOrdId`` is absent.
So Ceres always passes ``params={"clientOrderId": ...}``. The broker ids cannot be switched off by
options: ccxt's ``safe_string`` treats ``""`` as missing and falls back to the built-in default.

``rest_url``: every REST base in ``exchange.urls["api"]`` (nested dicts included, ``{hostname}``
expanded first) gets its scheme, host and port replaced, the path kept. ccxt's Binance picks part of
its error table from the URL host (``binance.get_exceptions_by_url``); that lookup is given the
original URL so a fake venue sees the same exception mapping as the real one.

``streams=True`` builds the ``ccxt.pro`` class instead (a subclass of the REST one: the same REST
calls, plus ``watch_*``); ``ws_url`` then moves every ``ws://``/``wss://`` url of it the same way
(``redirect_streams``), exercised against the fake Binance streams (``tests/fakevenue/binance_ws.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]
import ccxt.pro as ccxt_pro  # type: ignore[import-untyped]

from ceres.venues.live.names import CCXT_IDS, CLOSED

__all__ = ["CCXT_IDS", "CLOSED", "make_exchange", "redirect_rest", "redirect_streams"]


def _venue_options(ccxt_id: str, default_type: str) -> dict[str, Any]:
    options: dict[str, Any] = {"maxRetriesOnFailure": 0, "defaultType": default_type}
    if ccxt_id == "binance":
        types = ["linear"] if default_type in ("swap", "future") else [default_type]
        options.update({
            "fetchMarkets": {"types": types, "loadAllOptions": False},
            "fetchMargins": False,
            "fetchCurrencies": False,
            "fetchOpenOrders": {"warnWithoutSymbol": False},
        })
    elif ccxt_id == "htx":  # htx.fetch_markets: a dict of types; spot only (else three contract endpoints too)
        options["fetchMarkets"] = {"types": {"spot": default_type == "spot", "linear": default_type != "spot",
                                             "inverse": False}}
    elif ccxt_id == "okx":
        options.update({"fetchMarkets": {"types": [default_type]}, "createOrder": "privatePostTradeOrder"})
    return options


def make_exchange(venue: str, *, api_key: str = "", secret: str = "", password: str | None = None,
                  rest_url: str | None = None, sandbox: bool = False, timeout_ms: int = 10000,
                  default_type: str = "spot", streams: bool = False, ws_url: str | None = None) -> Any:
    """Return a configured ``ccxt.async_support`` exchange for a Ceres exchange name (``BINANCE``...),
    or with ``streams`` its ``ccxt.pro`` subclass (streams at ``ws_url`` when given).

    The caller owns it and must ``await exchange.close()``.
    """
    if venue in CLOSED:
        raise ValueError(f"{venue}: {CLOSED[venue]}")
    ccxt_id = CCXT_IDS.get(venue)
    if ccxt_id is None:
        raise ValueError(f"{venue}: not a live venue (known: {', '.join(sorted(CCXT_IDS))})")
    config: dict[str, Any] = {
        "apiKey": api_key,
        "secret": secret,
        "number": str,
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": _venue_options(ccxt_id, default_type),
    }
    if password is not None:
        config["password"] = password
    exchange = getattr(ccxt_pro if streams else ccxt_async, ccxt_id)(config)
    if sandbox:
        exchange.set_sandbox_mode(True)
    if rest_url is not None:
        redirect_rest(exchange, rest_url)
    if ws_url is not None:
        if not streams:
            raise ValueError("ws_url needs streams=True (a ccxt.pro instance)")
        redirect_streams(exchange, ws_url)
    return exchange


def _base(url: str, schemes: tuple[str, ...]) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"expected {'/'.join(schemes)}://host:port without a path, got {url!r}")
    return parts.scheme, parts.netloc


def _rewrite(node: Any, base: tuple[str, str], prefixes: tuple[str, ...], seen: dict[str, str], exchange: Any) -> Any:
    """Return ``node`` with every url string starting with one of ``prefixes`` moved to ``base``."""
    if isinstance(node, dict):
        return {key: _rewrite(value, base, prefixes, seen, exchange) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite(value, base, prefixes, seen, exchange) for value in node]
    if isinstance(node, str) and node.startswith(prefixes):
        original = exchange.implode_hostname(node) if "{hostname}" in node else node
        parts = urlsplit(original)
        moved = urlunsplit((base[0], base[1], parts.path, parts.query, parts.fragment))
        seen[moved] = original
        return moved
    return node


def _original_url(url: str, seen: dict[str, str]) -> str:
    for moved in sorted(seen, key=len, reverse=True):
        if url.startswith(moved):
            return seen[moved] + url[len(moved):]
    return url


def redirect_rest(exchange: Any, rest_url: str) -> None:
    """Send every REST request of ``exchange`` to ``rest_url`` (``http://127.0.0.1:PORT``), same paths."""
    base = _base(rest_url, ("http", "https"))
    seen: dict[str, str] = {}
    exchange.urls["api"] = _rewrite(exchange.urls["api"], base, ("http://", "https://"), seen, exchange)
    by_url = getattr(exchange, "get_exceptions_by_url", None)
    if by_url is not None:
        exchange.get_exceptions_by_url = lambda url, kind: by_url(_original_url(url, seen) if url else url, kind)


def redirect_streams(exchange: Any, ws_url: str) -> None:
    """Send every websocket connection of a ccxt.pro ``exchange`` to ``ws_url`` (``ws://127.0.0.1:PORT``)."""
    base = _base(ws_url, ("ws", "wss"))
    exchange.urls["api"] = _rewrite(exchange.urls["api"], base, ("ws://", "wss://"), {}, exchange)
