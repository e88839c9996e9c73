"""Instrument grids: derived integer multipliers, fee rates over 1e8, spec validation."""

from __future__ import annotations

import pytest

from ceres.domain.enums import Kind
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.instruments import RATE_SCALE, Instrument, parse_rate
from engine_helpers import spot


def test_btc_usdt_grid() -> None:
    inst = spot()  # tick 0.01, lot 0.0001, 8/8 decimals
    assert (inst.tick_units, inst.price_decimals, inst.lot_units, inst.vol_decimals) == (1, 2, 1, 4)
    # 0.01 USDT x 0.0001 BTC = 0.000001 USDT = 100 minor units (1e-8)
    assert inst.notional_mult == 100
    # 0.0001 BTC = 10_000 satoshi
    assert inst.base_mult == 10_000
    assert (inst.min_price_ticks, inst.min_volume_lots) == (1, 1)
    assert inst.key == ("TEST", "BTC/USDT") and not inst.is_contract


def test_coarse_grid_multipliers() -> None:
    inst = spot("ETH/USDT", tick="0.05", lot="0.25", min_price="1", min_volume="0.5",
                base_dec=6, quote_dec=6)
    # one tick 0.05 x one lot 0.25 = 0.0125 quote = 12_500 minor (6 decimals)
    assert inst.notional_mult == 12_500
    assert inst.base_mult == 250_000  # 0.25 ETH at 6 decimals
    assert inst.min_price_ticks == 20 and inst.min_volume_lots == 2
    # price x volume x notional_mult is exactly price_decimal x volume_decimal
    assert inst.price_to_ticks("100.05") * inst.vol_to_lots("1.5") * inst.notional_mult == 150_075_000


def test_fee_rates_over_1e8() -> None:
    inst = spot(maker="-0.00025", taker="0.00075")
    assert RATE_SCALE == 10**8
    assert (inst.maker_rate, inst.taker_rate) == (-25_000, 75_000)
    assert inst.freeze_rate == 75_000
    assert spot(maker="0.001", taker="0.0005").freeze_rate == 100_000
    assert spot(maker="-0.001", taker="-0.0005").freeze_rate == 0  # never negative


@pytest.mark.parametrize(("text", "rate"), [("0.0005", 50_000), ("0", 0), ("-0.00000001", -1),
                                            ("1", 100_000_000), ("0.5", 50_000_000)])
def test_parse_rate(text: str, rate: int) -> None:
    assert parse_rate(text, "fee") == rate


def test_parse_rate_rejects_more_than_8_decimals() -> None:
    with pytest.raises(ValueError):
        parse_rate("0.000000001", "fee")


@pytest.mark.parametrize("kw", [
    {"tick": "0"}, {"lot": "0"}, {"quote_dec": 5},           # 0.01 x 0.0001 needs 6 quote decimals
    {"base_dec": 3},                                          # lot 0.0001 needs 4 base decimals
    {"min_price": "0.005"}, {"min_volume": "0.00015"}, {"min_price": "0"},
])
def test_invalid_specs_raise_value_error(kw: dict) -> None:
    with pytest.raises(ValueError):
        spot(**kw)


def test_formatting_helpers() -> None:
    inst = spot()
    assert inst.fmt_price(3_000_000) == "30000"
    assert inst.fmt_price(3_000_005) == "30000.05"
    assert inst.fmt_vol(5000) == "0.5"
    assert inst.fmt_quote(1_500_750_000_000) == "15007.5"
    assert inst.fmt_base(9_995_000) == "0.09995"


def test_conversion_errors_use_instrument_fields() -> None:
    inst = spot()
    with pytest.raises(CeresError) as info:
        inst.price_to_ticks("0.001")
    assert (info.value.error, info.value.field) == (ErrorCode.PRICE_OFF_TICK, "entrust_price")
    with pytest.raises(CeresError) as info:
        inst.vol_to_lots("0.00001", "vol")
    assert (info.value.error, info.value.field) == (ErrorCode.VOLUME_OFF_STEP, "vol")


def test_inverse_contract_grid() -> None:
    inst = Instrument("TEST", "XBTUSD", Kind.PERPETUAL, "XBT", "USD", "0.5", "1", "0.5", "1",
                      "-0.00025", "0.00075", 8, 0, contract_value="1", inverse=True,
                      max_lever=100, maint_margin="0.005")
    assert inst.is_contract and inst.settle == "XBT"
    assert (inst.notional_mult, inst.base_mult) == (0, 0)
    # 1 contract = 1 USD; at 30000 USD (60000 ticks of 0.5) it is 1/30000 XBT = 3333 sat (floor)
    assert inst.notional(1, 60000) == 3333
    assert inst.notional(300, 60000) == 1_000_000
    assert inst.price_to_ticks("100.5") == 201
