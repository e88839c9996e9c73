"""Venue markets as Ceres instruments (venues.live.markets): a step-size venue's grid as it
states it; a linear perpetual as kind 3 with its contract terms; Bitfinex's significant-digit
precision as a fixed 8-decimal grid plus a cap of 5 significant digits, enforced when a price
is read (the venue would cut the extra digits off silently)."""

from __future__ import annotations

import pytest

from ceres.domain.enums import Kind
from ceres.domain.errors import CeresError, ErrorCode
from ceres.venues.live.markets import SIGNIFICANT_DIGITS, TICK_SIZE, instrument_of


def market(**kw):
    return {"symbol": "BTC/USDT", "id": "BTCUSDT", "base": "BTC", "quote": "USDT", "spot": True, "active": True,
            "precision": {"price": "0.01", "amount": "0.00001"}, "limits": {"amount": {"min": "0.0001"}}, **kw}


def test_a_step_size_market_on_its_grid() -> None:
    inst = instrument_of("BINANCE", market(), TICK_SIZE)
    assert inst is not None
    assert (inst.kind, inst.tick_size, inst.volume_increment, inst.min_volume, inst.price_significant) == (
        Kind.SPOT, "0.01", "0.00001", "0.0001", 0)
    assert inst.price_to_ticks("30000.12") == 3_000_012  # no cap on digits


def test_a_linear_perpetual() -> None:
    inst = instrument_of("BINANCE", market(symbol="BTC/USDT:USDT", spot=False, swap=True, linear=True,
                                           contractSize="1", precision={"price": "0.1", "amount": "0.001"},
                                           limits={"leverage": {"max": "125"}}), TICK_SIZE)
    assert inst is not None
    assert (inst.kind, inst.contract_value, inst.max_lever, inst.settle) == (Kind.PERPETUAL, "1", 100, "USDT")
    assert instrument_of("BINANCE", market(spot=False, swap=True, linear=False, inverse=True), TICK_SIZE) is None


def test_bitfinex_significant_digits() -> None:
    inst = instrument_of("BITFINEX", market(precision={"price": 5, "amount": 8}, limits={"amount": {"min": "0.0002"}}),
                         SIGNIFICANT_DIGITS)
    assert inst is not None
    assert (inst.tick_size, inst.volume_increment, inst.min_volume, inst.price_significant) == (
        "0.00000001", "0.00000001", "0.0002", 5)
    assert inst.fmt_price(inst.price_to_ticks("30001")) == "30001"
    assert inst.fmt_price(inst.price_to_ticks("0.00012345")) == "0.00012345"
    for too_precise in ("30000.5", "123456", "1.23456"):
        with pytest.raises(CeresError) as raised:
            inst.price_to_ticks(too_precise)
        assert raised.value.error == ErrorCode.PRICE_OFF_TICK and "5 significant digits" in raised.value.message
    with pytest.raises(CeresError) as raised:
        inst.price_to_ticks("0.000000001")  # more than 8 decimals: off the grid as anywhere
    assert raised.value.error == ErrorCode.PRICE_OFF_TICK
    assert instrument_of("BITFINEX", market(precision={"price": None, "amount": 8}), SIGNIFICANT_DIGITS) is None
