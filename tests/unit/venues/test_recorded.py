"""What ccxt 4.5.90 makes of recorded BINANCE / OKEX / HUOBI (htx) / BITFINEX replies, offline (issue 11).

Every reply is in ``tests/fixtures/venues/<ccxt id>/`` with the doc page or ccxt parser it follows;
``recorded.py`` feeds it through a ``make_exchange`` instance with no socket. The assertions compare
values *and* types: with ``number=str`` ccxt hands back strings, keeping the venue's spelling where it
copies a field (Binance ``"0.01000000"``, HTX ``"0.004000000000000000"``) and normalising where it
computes one (``remaining``, ``total``, ``cost``). Floats left (asserted): a market's ``taker``/``maker``
(ccxt's static fee table; HTX's are strings), Bitfinex's precision (ints: significant digits).
"""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest
from tests.unit.venues.recorded import VENUES, Unrecorded, call, cases, load, mismatches, offline
from tests.unit.venues.test_factory import floats  # paths of the floats outside ``info``

from ceres.domain.enums import OrderStatus
from ceres.venues.live.status import ceres_status

PARSED = cases("create_order") + cases("fetch_order") + cases("fetch_my_trades") + cases("fetch_balance")


@pytest.mark.parametrize("venue", list(VENUES))
async def test_markets_load_from_the_recorded_replies_only(venue):
    case = load(venue, "markets")["cases"][0]
    async with offline(venue) as (exchange, recording):
        assert sorted(exchange.markets) == sorted(case["expect"]) == ["BTC/USDT", "ETH/USDT"]
        assert mismatches(exchange.markets, case["expect"]) == []
        asked = {(method, url) for method, url, _ in recording.requests}
        assert len(asked) == len(recording.requests) == len(case["replies"])  # each recorded reply asked once


@pytest.mark.parametrize(("venue", "case"), PARSED)
async def test_recorded_reply_parses_to_the_unified_structure(venue, case):
    async with offline(venue, case) as (exchange, recording):
        result = await call(exchange, case)
    assert mismatches(result, case["expect"]) == []
    assert floats(result) == []
    if "ceres" in case:
        assert ceres_status(result) == case["ceres"]
    _, url, body = recording.requests[-1]
    for fragment in case.get("sent", []):  # the placement carries our client id and our values
        assert fragment in (body or url)


@pytest.mark.parametrize(("venue", "case"), cases("errors"))
async def test_error_reply_raises_the_mapped_ccxt_class(venue, case):
    async with offline(venue, case) as (exchange, recording):
        with pytest.raises(ccxt.BaseError) as caught:
            await call(exchange, case)
    assert type(caught.value).__name__ == case["raises"], str(caught.value)
    verb, path = next(iter(case["replies"])).split(" ", 1)
    assert recording.requests[-1][0] == verb and path in recording.requests[-1][1]  # raised by that reply


@pytest.mark.parametrize("venue", list(VENUES))
def test_fetch_order_replies_cover_every_ceres_outcome(venue):
    covered = {case["ceres"] for case in load(venue, "fetch_order")["cases"]}
    wanted = {OrderStatus.SUBMITTED, OrderStatus.PART_FILLED, OrderStatus.FILLED, OrderStatus.PART_CANCELED,
              OrderStatus.CANCELED}
    assert wanted <= covered


@pytest.mark.parametrize("venue", list(VENUES))
async def test_a_request_without_a_recording_fails_loudly(venue):
    async with offline(venue, {"replies": {}}) as (exchange, _):
        with pytest.raises(Unrecorded, match="no recorded reply for GET"):
            await exchange.fetch_ticker("BTC/USDT")
