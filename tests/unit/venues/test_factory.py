"""``make_exchange``: venue mapping, the options Ceres depends on, REST/WS redirection and exact numbers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt
import ccxt.pro as ccxtpro
import pytest
from tests.fakevenue.testing import check_duplicate_client_id, check_only_loopback, check_unknown_outcome, venue_session

from ceres.venues.live.factory import CCXT_IDS, CLOSED, make_exchange, redirect_streams

FAKE = "http://127.0.0.1:9"


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [node] if isinstance(node, str) else []


def floats(node: Any, path: str = "") -> list[str]:
    """Paths of every float in a parsed ccxt structure (the raw ``info`` excluded)."""
    if isinstance(node, dict):
        return [p for key, value in node.items() if key != "info" for p in floats(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in floats(value, f"{path}[{i}]")]
    return [path] if isinstance(node, float) else []


@pytest.fixture
async def exchanges():
    made: list[Any] = []
    yield made
    for exchange in made:
        await exchange.close()


async def test_venue_names_map_to_ccxt_classes_and_bitmex_is_refused(exchanges):
    for venue, ccxt_id in CCXT_IDS.items():
        exchanges.append(make_exchange(venue))
        assert exchanges[-1].id == ccxt_id
    with pytest.raises(ValueError, match="BitMEX closed"):
        make_exchange("BITMEX")
    assert "BITMEX" in CLOSED and not hasattr(ccxt, "bitmex")
    with pytest.raises(ValueError, match="not a live venue"):
        make_exchange("TEST")


async def test_options_that_keep_placements_single_and_exact(exchanges):
    binance = make_exchange("BINANCE", timeout_ms=1234)
    okx = make_exchange("OKEX", password="p")
    exchanges += [binance, okx]
    for exchange in (binance, okx):
        assert (exchange.number, exchange.enableRateLimit, exchange.options["maxRetriesOnFailure"]) == (str, True, 0)
    assert binance.timeout == 1234
    assert binance.options["fetchOpenOrders"]["warnWithoutSymbol"] is False
    assert binance.options["fetchMarkets"]["types"] == ["spot"]
    assert (binance.options["fetchMargins"], binance.options["fetchCurrencies"]) == (False, False)
    assert (okx.options["fetchMarkets"]["types"], okx.options["createOrder"]) == (["spot"], "privatePostTradeOrder")
    assert okx.password == "p"


@pytest.mark.parametrize("venue", sorted(CCXT_IDS))
async def test_rest_url_moves_every_api_url_and_keeps_paths(venue, exchanges):
    original = make_exchange(venue)
    moved = make_exchange(venue, rest_url=FAKE)
    exchanges += [original, moved]
    before = [original.implode_hostname(url) for url in strings(original.urls["api"]) if url.startswith("http")]
    after = strings(moved.urls["api"])
    assert before and all(url.startswith(FAKE) for url in after)
    assert [urlsplit(url).path for url in after] == [urlsplit(url).path for url in before]


async def test_sandbox_then_rest_url_moves_the_test_urls(exchanges):
    exchange = make_exchange("BINANCE", rest_url=FAKE, sandbox=True)
    exchanges.append(exchange)
    assert exchange.urls["api"]["private"] == FAKE + "/api/v3"  # was https://testnet.binance.vision/api/v3
    assert "sapi" not in exchange.urls["api"]  # ccxt's testnet has no sapi: those calls raise NotSupported
    assert all(url.startswith(FAKE) for url in strings(exchange.urls["api"]))


async def test_rest_url_must_be_a_bare_base():
    with pytest.raises(ValueError, match="without a path"):
        make_exchange("BINANCE", rest_url="http://127.0.0.1:9/api")


async def test_binance_error_table_is_chosen_by_the_original_host(exchanges):
    original, moved = make_exchange("BINANCE"), make_exchange("BINANCE", rest_url=FAKE)
    exchanges += [original, moved]
    real = original.get_exceptions_by_url("https://api.binance.com/api/v3/order", "exact")
    assert real and moved.get_exceptions_by_url(FAKE + "/api/v3/order", "exact") == real


async def test_redirect_streams_moves_every_websocket_url():
    exchange = ccxtpro.binance()
    try:
        before = [url for url in strings(exchange.urls["api"]) if url.startswith("wss://")]
        redirect_streams(exchange, "ws://127.0.0.1:9")
        after = [url for url in strings(exchange.urls["api"]) if url.startswith("ws")]
        assert before and len(after) == len(before) and all(url.startswith("ws://127.0.0.1:9/") for url in after)
        assert any(url.startswith("https://api.binance.com") for url in strings(exchange.urls["api"]))  # REST kept
    finally:
        await exchange.close()


@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_number_str_leaves_no_float_in_orders_trades_and_balances(kind):
    async with venue_session(kind, {"USDT": "1000"}) as s:
        order = await s.exchange.create_order("BTC/USDT", "limit", "buy", "0.01", "30000", {"clientOrderId": "cer1"})
        await s.fake.control.fill(order["id"], "0.004")
        parsed = {
            "order": await s.exchange.fetch_order(order["id"], "BTC/USDT"),
            "open": await s.exchange.fetch_open_orders("BTC/USDT"),
            "trades": await s.exchange.fetch_my_trades("BTC/USDT"),
            "balance": await s.exchange.fetch_balance(),
            "canceled": await s.exchange.cancel_order(order["id"], "BTC/USDT"),
        }
        assert floats(parsed) == []
        assert isinstance(parsed["order"]["timestamp"], int)
        # market fees come from ccxt's static fee table, not from the venue: they stay floats
        assert floats(s.exchange.market("BTC/USDT")) == [".taker", ".maker"]


# -- the same contract on both fake venues: what make_exchange's options guarantee --------------
@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_rest_url_keeps_every_request_on_loopback(kind):
    await check_only_loopback(kind)


@pytest.mark.parametrize("mode", ["hang_after", "hang_before", "drop", "drop_after"])
@pytest.mark.parametrize("kind", ["binance", "okx"])
async def test_unknown_outcome_of_a_placement_is_sent_once(kind, mode):
    await check_unknown_outcome(kind, mode)


@pytest.mark.parametrize(("kind", "message"), [("binance", "Duplicate order sent"), ("okx", "51016")])
async def test_duplicate_open_client_id_is_invalid_order(kind, message):
    await check_duplicate_client_id(kind, message)
