"""Ceres: an open trading-API server speaking the CoinCeres 2019 third-party API."""

__version__ = "0.1.0"
