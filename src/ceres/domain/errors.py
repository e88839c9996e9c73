"""The one error table: every failure Ceres reports is a member of ``ErrorCode``.

Codes are banded strings (API.md section 1):

=======  ==================================================
band     meaning
=======  ==================================================
400xx    request / validation (the message names the field)
401xx    authentication
403xx    permission
404xx    not found
410xx    balance / risk
420xx    matching / order state
429      rate limited
500xx    internal / venue
503      busy
=======  ==================================================

Each member carries the wire ``code``, the HTTP status a REST reply uses and a default
message. Transports map a :class:`CeresError` to the wire in exactly one place
(``gateway.protocol``); nothing classifies errors by their message text.
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(Enum):
    # --- 400xx request / validation -------------------------------------------------
    BAD_REQUEST = ("400", 200, "bad request")
    INVALID_JSON = ("40001", 200, "request is not valid JSON")
    BINARY_FRAME = ("40002", 200, "binary frames are not accepted; send JSON text")
    UNKNOWN_BIZ_TYPE = ("40003", 200, "unknown biz_type")
    MISSING_FIELD = ("40004", 200, "missing required field")
    INVALID_TYPE = ("40005", 200, "field has the wrong type")
    INVALID_VALUE = ("40006", 200, "field has an invalid value")
    INVALID_DECIMAL = ("40007", 200, "not a valid decimal number")
    PRICE_OFF_TICK = ("40008", 200, "price is not a multiple of tick_size")
    VOLUME_OFF_STEP = ("40009", 200, "volume is not a multiple of volume_increment")
    PRICE_OUT_OF_RANGE = ("40010", 200, "price is out of range")
    VOLUME_OUT_OF_RANGE = ("40011", 200, "volume is out of range")
    TOO_MANY_IDS = ("40012", 200, "at most 15 ids per request")
    COUNT_OUT_OF_RANGE = ("40013", 200, "count out of range")
    FIELD_TOO_LONG = ("40014", 200, "field is too long")
    NOT_A_CONTRACT = ("40015", 200, "instrument is not a contract")
    CLOSE_TARGET_MISSING = ("40016", 200, "deal_id or close_rule is required to close")
    LEVER_OUT_OF_RANGE = ("40017", 200, "lever out of range")
    TPSL_WRONG_SIDE = ("40018", 200, "take-profit or stop-loss on the wrong side of the price")
    AMOUNT_OFF_GRID = ("40019", 200, "amount has more decimals than the currency allows")
    PAYLOAD_TOO_LARGE = ("40020", 413, "request body or message over 64 KiB")
    ALREADY_EXISTS = ("40021", 200, "already exists")
    REQUEST_TIMEOUT = ("40022", 408, "request not received in time")
    HEADER_TOO_LARGE = ("40023", 431, "request line or header too large")
    MALFORMED_REQUEST = ("40024", 400, "malformed HTTP request")
    TLS_REQUIRED = ("40025", 400, "this port speaks TLS: use https:// or wss://")
    NOT_ON_LIVE_VENUE = ("40026", 200, "not possible on a live venue: deposits and transfers happen at the venue")
    BATCH_TOO_LARGE = ("40027", 200, "too many items in a batch")
    # --- 401xx authentication -------------------------------------------------------
    AUTH_MISSING = ("40101", 401, "api_key and sign are required")
    AUTH_UNKNOWN_KEY = ("40102", 401, "unknown api_key")
    AUTH_BAD_SIGN = ("40103", 401, "sign does not match")
    AUTH_KEY_REVOKED = ("40104", 401, "api_key has been revoked")
    AUTH_TIMESTAMP_WINDOW = ("40105", 401, "timestamp outside the accepted window")
    AUTH_REPLAY = ("40106", 401, "request replayed (same sign seen inside the window)")
    AUTH_TIMESTAMP_REQUIRED = ("40107", 401, "timestamp is required")
    AUTH_ADDRESS_NOT_ALLOWED = ("40108", 401, "this api_key may not be used from this address")
    # --- 403xx permission -----------------------------------------------------------
    PERMISSION_DENIED = ("40301", 200, "this api_key may not do that")
    ORIGIN_NOT_ALLOWED = ("40302", 403, "WebSocket connections from this Origin are not allowed")
    VENUE_AUTH_FAILED = ("40303", 200, "the venue refused the product's credentials there")
    # --- 404xx not found ------------------------------------------------------------
    NOT_FOUND = ("404", 404, "not found")
    UNKNOWN_EXCHANGE = ("40401", 200, "unknown exchange")
    UNKNOWN_CONTRACT = ("40402", 200, "unknown contract")
    ORDER_NOT_FOUND = ("40403", 200, "order not found")
    UNKNOWN_PRODUCT = ("40404", 200, "unknown product")
    POSITION_NOT_FOUND = ("40405", 200, "position not found")
    UNKNOWN_KEY = ("40406", 200, "unknown api_key")
    VENUE_CLOSED = ("40407", 200, "this exchange has closed")
    VENUE_NOT_CONNECTED = ("40408", 200, "no key for this exchange (ceres venues connect)")
    # --- 410xx balance / risk -------------------------------------------------------
    INSUFFICIENT_BALANCE = ("41001", 200, "insufficient balance")
    CLOSE_EXCEEDS_POSITION = ("41002", 200, "close volume exceeds the open position")
    # --- 420xx matching / order state -----------------------------------------------
    ORDER_FINISHED = ("42001", 200, "order is already finished")
    INSTRUMENT_NOT_TRADING = ("42002", 200, "instrument is not trading")
    VENUE_REFUSED = ("42003", 200, "the live venue refused the order")
    POST_ONLY_WOULD_TAKE = ("42004", 200, "post-only order would take liquidity")
    SELF_TRADE_PREVENTED = ("42005", 200, "self-trade prevented")
    DEADMAN_FIRED = ("42006", 200, "dead-man's switch fired")
    CANCELLED_ON_DISCONNECT = ("42007", 200, "cancelled: the connection that placed it closed")
    # --- 429 / 5xx ------------------------------------------------------------------
    RATE_LIMITED = ("429", 429, "rate limited")
    TOO_MANY_CONNECTIONS = ("42901", 429, "too many connections")
    INTERNAL = ("500", 500, "internal error")
    JOURNAL_FAILURE = ("50001", 503, "the journal cannot write now (disk full or failing); not applied, retry later")
    HISTORY_UNAVAILABLE = ("50002", 503, "the history store cannot write now; history is unavailable, retry later")
    VENUE_UNAVAILABLE = ("50003", 503, "the live venue cannot be reached now; retry later")
    LEADER_UNAVAILABLE = ("50004", 503, "no engine leads now (a failover is under way); retry")
    BUSY = ("503", 503, "server busy")

    def __init__(self, code: str, http_status: int, default_message: str) -> None:
        self.code = code
        self.http_status = http_status
        self.default_message = default_message

    @property
    def reason(self) -> str:
        """``"CODE text"``: why an order ended other than at its owner's request, as an order
        event's ``reason`` carries it (the form ``str(CeresError)`` has too)."""
        return f"{self.code} {self.default_message}"


class CeresError(Exception):
    """A failure with a code from the table; ``field`` names the offending input."""

    __slots__ = ("detail", "error", "field")

    def __init__(self, error: ErrorCode, detail: str | None = None, field: str | None = None):
        super().__init__(error.code)
        self.error = error
        self.detail = detail
        self.field = field

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def message(self) -> str:
        text = self.detail or self.error.default_message
        if self.field and self.field not in text:
            return f"{self.field}: {text}"
        return text

    def __str__(self) -> str:
        return f"{self.error.code} {self.message}"

    def __repr__(self) -> str:
        return f"CeresError({self.error.name}, {self.message!r})"
