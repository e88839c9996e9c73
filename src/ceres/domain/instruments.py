"""Instrument specifications and their integer grids.

An instrument's prices are integer *ticks* (``tick_size`` each), volumes integer *lots*
(``volume_increment`` each). Currencies have a number of decimals; balances are integer
minor units (``10**-decimals``). Grids are validated when the spec is built, so that a
price times a volume is always a whole number of quote minor units:

* ``notional_mult``: quote minor units of one tick times one lot (spot), and
* ``base_mult``: base minor units of one lot (spot).

Fee rates are integers over ``RATE_SCALE`` (1e8): ``0.0005`` is ``50000``. A negative
maker rate is a rebate; ``freeze_rate`` is the largest fee an order can pay. Contract
fields (``contract_value``, ``inverse``, ``max_lever``, ``maint_margin``, ``expiry_ms``,
funding) are zero/False on spot instruments; ``settle`` is the currency margin, PnL and
fees are paid in (spot: the quote). ``price_significant`` (0: none) caps the significant
digits of a price on top of the tick (Bitfinex: 5 significant digits, at most 8 decimals).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ceres.domain.enums import Kind
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.money import format_scaled, parse_decimal, to_steps

RATE_DECIMALS = 8
RATE_SCALE: int = 10**RATE_DECIMALS
MAX_PRICE_TICKS: int = 10**15
MAX_VOLUME_LOTS: int = 10**15


def parse_rate(text: str, field_name: str) -> int:
    """A signed fee or margin rate such as ``"-0.00025"`` as an integer over RATE_SCALE."""
    negative = text.startswith("-")
    digits, n = parse_decimal(text[1:] if negative else text, field_name)
    if n > RATE_DECIMALS:
        raise ValueError(f"{field_name}: {text} has more than {RATE_DECIMALS} decimals")
    value: int = digits * 10 ** (RATE_DECIMALS - n)
    return -value if negative else value


def _grid(text: str, name: str) -> tuple[int, int]:
    """``"0.05"`` -> (units=5, decimals=2); the step must be positive."""
    digits, n = parse_decimal(text, name)
    if digits <= 0:
        raise ValueError(f"{name} must be positive, got {text!r}")
    return digits, n


@dataclass(frozen=True, slots=True)
class Instrument:
    exchange: str
    contract: str
    kind: Kind
    base: str
    quote: str
    tick_size: str
    volume_increment: str
    min_price: str
    min_volume: str
    maker_fee: str
    taker_fee: str
    base_decimals: int
    quote_decimals: int
    # contract terms (kind 1 dated / 3 perpetual); see engine.contracts ------------------
    contract_value: str = "0"    # linear: base per contract; inverse: quote (USD) per contract
    inverse: bool = False        # True: margin and PnL in the base coin (XBTUSD style)
    max_lever: int = 1
    maint_margin: str = "0"      # maintenance margin rate
    expiry_ms: int = 0           # dated contracts: settlement time
    funding_interval_ms: int = 0  # perpetuals: time between funding exchanges
    funding_rate: str = "0"      # perpetuals: rate used until a SetFundingRate command
    price_significant: int = 0   # at most this many significant digits in a price (0: no cap)
    # derived integer grid -------------------------------------------------------------
    price_decimals: int = field(init=False)
    tick_units: int = field(init=False)
    vol_decimals: int = field(init=False)
    lot_units: int = field(init=False)
    min_price_ticks: int = field(init=False)
    min_volume_lots: int = field(init=False)
    maker_rate: int = field(init=False)
    taker_rate: int = field(init=False)
    freeze_rate: int = field(init=False)
    is_contract: bool = field(init=False)
    notional_mult: int = field(init=False)
    base_mult: int = field(init=False)
    settle: str = field(init=False)
    settle_decimals: int = field(init=False)
    inv_num: int = field(init=False)
    maint_rate: int = field(init=False)
    funding_rate_e8: int = field(init=False)

    def __post_init__(self) -> None:
        tick_units, price_dec = _grid(self.tick_size, "tick_size")
        lot_units, vol_dec = _grid(self.volume_increment, "volume_increment")
        s = object.__setattr__
        s(self, "tick_units", tick_units)
        s(self, "price_decimals", price_dec)
        s(self, "lot_units", lot_units)
        s(self, "vol_decimals", vol_dec)
        s(self, "maker_rate", parse_rate(self.maker_fee, "maker_fee"))
        s(self, "taker_rate", parse_rate(self.taker_fee, "taker_fee"))
        s(self, "freeze_rate", max(self.maker_rate, self.taker_rate, 0))
        s(self, "is_contract", self.kind.is_contract)
        s(self, "base_mult", 0)
        s(self, "inv_num", 0)
        s(self, "maint_rate", 0)
        s(self, "funding_rate_e8", 0)
        if self.kind == Kind.SPOT:
            self._spot_grid(tick_units, price_dec, lot_units, vol_dec)
        elif self.is_contract:
            self._contract_grid(tick_units, price_dec, lot_units, vol_dec)
        else:
            raise ValueError(f"{self.contract}: kind {int(self.kind)} cannot be traded on TEST")
        try:
            s(self, "min_price_ticks", self.price_to_ticks(self.min_price, "min_price"))
            s(self, "min_volume_lots", self.vol_to_lots(self.min_volume, "min_volume"))
        except CeresError as exc:
            raise ValueError(f"{self.contract}: {exc.message}") from None

    def _spot_grid(self, tick_units: int, price_dec: int, lot_units: int, vol_dec: int) -> None:
        s = object.__setattr__
        if self.quote_decimals < price_dec + vol_dec:
            raise ValueError(
                f"{self.contract}: quote {self.quote} needs at least {price_dec + vol_dec} "
                f"decimals for tick_size {self.tick_size} x volume_increment {self.volume_increment}"
            )
        if self.base_decimals < vol_dec:
            raise ValueError(
                f"{self.contract}: base {self.base} needs at least {vol_dec} decimals "
                f"for volume_increment {self.volume_increment}"
            )
        s(self, "notional_mult", tick_units * lot_units * 10 ** (self.quote_decimals - price_dec - vol_dec))
        s(self, "base_mult", lot_units * 10 ** (self.base_decimals - vol_dec))
        s(self, "settle", self.quote)
        s(self, "settle_decimals", self.quote_decimals)

    def _contract_grid(self, tick_units: int, price_dec: int, lot_units: int, vol_dec: int) -> None:
        """Linear: notional = price x lots x contract_value in the quote (``notional_mult``
        quote minor units per tick x lot). Inverse: notional = lots x contract_value / price
        in the base (``inv_num // (ticks x tick_units)`` base minor units per lot)."""
        s = object.__setattr__
        cv_units, cv_dec = _grid(self.contract_value, "contract_value")
        if not 1 <= self.max_lever <= 100:
            raise ValueError(f"{self.contract}: max_lever must be 1..100")
        s(self, "maint_rate", parse_rate(self.maint_margin, "maint_margin"))
        if not 0 < self.maint_rate < RATE_SCALE:
            raise ValueError(f"{self.contract}: maint_margin must be between 0 and 1")
        s(self, "funding_rate_e8", parse_rate(self.funding_rate, "funding_rate"))
        if self.kind == Kind.DATED and self.expiry_ms <= 0:
            raise ValueError(f"{self.contract}: a dated contract needs an expiry")
        if self.inverse:
            s(self, "settle", self.base)
            s(self, "settle_decimals", self.base_decimals)
            exp = self.base_decimals + price_dec - vol_dec - cv_dec
            if exp < 0:
                raise ValueError(f"{self.contract}: {self.base} needs more decimals for this grid")
            s(self, "inv_num", lot_units * cv_units * 10**exp)
            s(self, "notional_mult", 0)
        else:
            s(self, "settle", self.quote)
            s(self, "settle_decimals", self.quote_decimals)
            exp = self.quote_decimals - price_dec - vol_dec - cv_dec
            if exp < 0:
                raise ValueError(f"{self.contract}: {self.quote} needs at least "
                                 f"{price_dec + vol_dec + cv_dec} decimals for this grid")
            s(self, "notional_mult", tick_units * lot_units * cv_units * 10**exp)

    def notional(self, lots: int, price: int) -> int:
        """Contract notional of ``lots`` at ``price`` ticks, in settle minor units (inverse:
        floored)."""
        if self.inverse:
            return lots * self.inv_num // (price * self.tick_units)
        return price * lots * self.notional_mult

    # --- edge conversions ------------------------------------------------------------
    def price_to_ticks(self, text: object, field_name: str = "entrust_price") -> int:
        """Exact ticks for a wire price; off-tick or out-of-range input raises."""
        ticks = to_steps(text, self.tick_units, self.price_decimals, field_name, ErrorCode.PRICE_OFF_TICK)
        if ticks > MAX_PRICE_TICKS:
            raise CeresError(ErrorCode.PRICE_OUT_OF_RANGE, "price is too large", field_name)
        if self.price_significant:
            self.check_significant(ticks, field_name)
        return ticks

    def check_significant(self, ticks: int, field_name: str = "entrust_price") -> None:
        """Refuse a price with more significant digits than ``price_significant`` allows."""
        if self.price_significant and ticks:
            digits = str(ticks * self.tick_units).rstrip("0")
            if len(digits) > self.price_significant:
                raise CeresError(ErrorCode.PRICE_OFF_TICK, f"{self.fmt_price(ticks)} has more than "
                                 f"{self.price_significant} significant digits ({self.exchange}'s prices have at "
                                 f"most {self.price_significant})", field_name)

    def vol_to_lots(self, text: object, field_name: str = "entrust_vol") -> int:
        lots = to_steps(text, self.lot_units, self.vol_decimals, field_name, ErrorCode.VOLUME_OFF_STEP)
        if lots > MAX_VOLUME_LOTS:
            raise CeresError(ErrorCode.VOLUME_OUT_OF_RANGE, "volume is too large", field_name)
        return lots

    def fmt_price(self, ticks: int) -> str:
        return format_scaled(ticks * self.tick_units, self.price_decimals)

    def fmt_vol(self, lots: int) -> str:
        return format_scaled(lots * self.lot_units, self.vol_decimals)

    def fmt_quote(self, minor: int) -> str:
        return format_scaled(minor, self.quote_decimals)

    def fmt_base(self, minor: int) -> str:
        return format_scaled(minor, self.base_decimals)

    def fmt_settle(self, minor: int) -> str:
        return format_scaled(minor, self.settle_decimals)

    @property
    def key(self) -> tuple[str, str]:
        return (self.exchange, self.contract)

