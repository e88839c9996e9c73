"""Fake exchange venues on loopback HTTP for tests: Binance spot and OKX v5 (REST and websockets) as ccxt
calls them."""

from tests.fakevenue.runner import Control, FakeVenueHandle, FakeVenueThread, start_fake_venue

__all__ = ["Control", "FakeVenueHandle", "FakeVenueThread", "start_fake_venue"]
