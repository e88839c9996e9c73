"""The live venues by the name the API uses in ``exchange`` (cheap to import: no ccxt).

``CCXT_IDS``: the exchanges Ceres connects through ccxt, and ccxt's id for each (HUOBI is
ccxt's ``htx``, OKEX its ``okx``). ``CLOSED``: names of the 2019 API that no longer have a
venue; a request naming one is answered with ``VENUE_CLOSED`` and the reason.
"""

from __future__ import annotations

CCXT_IDS = {"BINANCE": "binance", "OKEX": "okx", "HUOBI": "htx", "BITFINEX": "bitfinex"}
CLOSED = {"BITMEX": "BitMEX closed on 2026-09-23 (ccxt dropped it in 4.5.84); it cannot be traded through Ceres"}
