"""Wire objects (API.md section 3): exact keys, decimals as plain strings, the average
price's rounding, a spot market buy's quote amount, the spot fill's literal
``future_dir`` and the configured clock face."""

from __future__ import annotations

from datetime import UTC

from gateway_helpers import CONFIG, ORDER_KEYS

from ceres.domain.enums import SPOT_FILL_FUTURE_DIR
from ceres.gateway import views
from contract_helpers import perp
from engine_helpers import BUY, LIMIT, MARKET, SELL, T0, btc_usdt_harness, spot

BTC_USDT = spot()  # tick 0.01, lot 0.0001, 8 decimals each
ADA_BTC = spot("ADA/BTC", tick="0.00000001", lot="1")
TZ = CONFIG.tz  # the default configuration's clock face, +08:00
FILL_KEYS = {"system_oid", "system_tid", "client_oid", "contract", "entrust_bs", "future_dir", "dealt_amount",
             "dealt_price", "dealt_time", "commission", "commission_currency"}


def fields(inst=BTC_USDT, side=BUY, ptype=LIMIT, fdir=0, price=0, vol=0, lever=1, profit=0, stop=0,
           status=3, filled=0, dealt=0, commission=0) -> dict:
    return views.order_fields(inst, 1028590980334354432, "tag", side, ptype, fdir, price, vol, T0, lever, profit,
                              stop, status, filled, dealt, commission, TZ)


def test_spot_order_object_keys_and_plain_decimals():
    o = fields(ADA_BTC, price=1, vol=12_000_000, filled=3, dealt=3, commission=5, lever=7, profit=9, stop=9)
    assert set(o) == ORDER_KEYS
    assert o == {"system_oid": "1028590980334354432", "client_oid": "tag", "contract": "ADA/BTC",
                 "entrust_bs": "buy", "future_dir": "", "entrust_price": "0.00000001", "entrust_amount": "12000000",
                 "entrust_time": "2025-10-09 16:53:20", "average_dealt_price": "0.00000001", "dealt_amount": "3",
                 "status": 3, "lever": "1", "profit_value": "0", "stop_value": "0", "commission": "0.00000005"}


def test_contract_order_object():
    o = fields(perp(), side=SELL, fdir=1, price=300_000, vol=10, lever=20, profit=290_000, status=4, filled=4,
               dealt=1_200_000)
    assert set(o) == ORDER_KEYS
    assert (o["entrust_bs"], o["future_dir"], o["lever"]) == ("sell", "open", "20")
    assert (o["entrust_price"], o["entrust_amount"], o["dealt_amount"]) == ("30000", "10", "4")
    assert (o["profit_value"], o["stop_value"], o["average_dealt_price"]) == ("29000", "0", "30000")


def test_market_order_price_and_average_before_a_fill():
    o = fields(side=SELL, ptype=MARKET, vol=5)
    assert (o["entrust_price"], o["average_dealt_price"], o["entrust_amount"]) == ("0", "0", "0.0005")


def test_ratio_price_rounds_half_up_at_tick_decimals_plus_eight():
    # 1 lot at 3000.00 and 2 lots at 3000.01: 900002 / 3 ticks = 3000.00666666666666...
    assert views.avg_price(BTC_USDT, 300_000 + 2 * 300_001, 3) == "3000.0066666667"
    # exactly half a unit of the 10th decimal rounds up; just under half rounds down
    assert views.ratio_price(BTC_USDT, 1, 2 * 10**8) == "0.0000000001"
    assert views.ratio_price(BTC_USDT, 1, 2 * 10**8 + 1) == "0"
    assert views.ratio_price(BTC_USDT, 5, 0) == "0"
    assert views.ratio_price(perp(), 3_000_005, 10) == "30000.05"  # tick 0.1: 300000.5 ticks


def test_spot_market_buy_amount_is_quote_and_fee_is_base():
    assert views.entrust_amount(BTC_USDT, BUY, MARKET, 12_345_000_000) == "123.45"   # USDT
    assert views.entrust_amount(BTC_USDT, SELL, MARKET, 12_345) == "1.2345"         # BTC lots
    assert views.entrust_amount(BTC_USDT, BUY, LIMIT, 12_345) == "1.2345"
    assert views.entrust_amount(perp(), BUY, MARKET, 12) == "12"                    # contracts: volume


def test_order_object_of_an_engine_market_buy():
    h = btc_usdt_harness()
    h.fund("alice", "USDT", 10**14)
    h.fund("bob", "BTC", 10**12)
    h.sell("bob", 3_000_000, 5000)                     # 0.5 BTC at 30000
    h.market_buy("alice", 100 * 10**8)                 # spend 100 USDT
    last = [e for e in h.order_events() if e.spec.product == "alice"][-1]
    o = views.order_object(last, TZ)
    assert set(o) == ORDER_KEYS
    assert (o["entrust_price"], o["entrust_amount"], o["status"]) == ("0", "100", 5)
    assert (o["dealt_amount"], o["average_dealt_price"]) == ("0.0033", "30000")
    assert o["commission"] == "0.00000165"             # 0.05% of 0.0033 BTC, taken in BTC
    # the resting sell: an open engine order and its latest event give the same object
    bob = next(iter(h.eng.products["bob"].open_orders.values()))
    bob_event = [e for e in h.order_events() if e.spec.product == "bob"][-1]
    assert views.order_object(bob, TZ) == views.order_object(bob_event, TZ)
    assert views.order_object(bob, TZ)["commission"] == "0.0495"  # USDT, from the proceeds


def test_fill_object():
    f = views.fill_fields(BTC_USDT, 11, 12, "c", BUY, MARKET, 0, 33, 3_000_000, T0, 165, TZ)
    assert set(f) == FILL_KEYS
    assert f["future_dir"] == SPOT_FILL_FUTURE_DIR == "币币交易，不区分"
    assert (f["system_oid"], f["system_tid"], f["dealt_amount"], f["dealt_price"]) == ("11", "12", "0.0033", "30000")
    assert (f["commission"], f["commission_currency"]) == ("0.00000165", "BTC")
    assert views.fill_fields(BTC_USDT, 11, 12, "", SELL, LIMIT, 0, 1, 1, T0, 5, TZ)["commission_currency"] == "USDT"
    c = views.fill_fields(perp(), 11, 12, "", SELL, LIMIT, 2, 10, 300_000, T0, -750, TZ)
    assert (c["future_dir"], c["commission"], c["commission_currency"]) == ("close", "-0.0000075", "USDT")


def test_pair_object():
    assert views.pair_object(BTC_USDT) == {
        "contract": "BTC/USDT", "exchange": "TEST", "kind": "4", "tick_size": "0.01", "volume_increment": "0.0001",
        "min_price": "0.01", "min_volume": "0.0001", "min_change": "0.01"}
    assert views.pair_object(perp())["kind"] == "3"


def test_account_row_exchange_only_on_venue_types():
    assert views.account_row(2, "", "USDT", 150 * 10**8, 0, 8, 150 * 10**8, 8) == {
        "account_type": 2, "balance": "150", "currency": "USDT", "frozen": "0", "market_value": "150"}
    for type_ in (3, 4):
        row = views.account_row(type_, "TEST", "BTC", 123_456_789, 100_000_000, 8, 3_703_703_670_000, 8)
        assert row == {"account_type": type_, "balance": "1.23456789", "currency": "BTC", "frozen": "1",
                       "market_value": "37037.0367", "exchange": "TEST"}


def test_wire_time_uses_the_configured_offset():
    assert CONFIG.server.timezone == "+08:00"
    assert views.wire_time(0, TZ) == "1970-01-01 08:00:00"
    assert views.wire_time(T0 + 999, TZ) == "2025-10-09 16:53:20"   # milliseconds are cut, not rounded
    assert views.wire_time(0, UTC) == "1970-01-01 00:00:00"
