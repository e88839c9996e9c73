"""Exact conversion between wire decimal strings and integers.

Inside Ceres every amount is an ``int``: prices are ticks, volumes lots, balances minor
units of a currency. Decimal strings exist only at the edge, converted here exactly once.

Accepted input is plain decimal notation: ASCII digits with at most one ``.``, e.g.
``"10"``, ``"0.000011"``, ``".5"``, ``"5."``. Rejected (``INVALID_DECIMAL``, naming the field):
empty strings, signs (a negative or ``+`` value), exponents (``1e5``), ``NaN``/``Infinity``,
whitespace, underscores, non-ASCII digits, and more than ``MAX_DECIMAL_LEN`` characters.
A value with more decimals than the target grid allows is rejected with the caller's
off-grid code; trailing zeros are not extra decimals (``"1.50"`` equals ``"1.5"``).
Nothing is ever rounded here.

Formatting is the inverse: plain notation, no exponent, trailing zeros stripped, integers
without a point (``"10"``, ``"0.000011655"``), a leading ``-`` for negatives.
"""

from __future__ import annotations

from ceres.domain.errors import CeresError, ErrorCode

MAX_DECIMAL_LEN = 40
_POW10: list[int] = [10**i for i in range(64)]


def _is_digits(part: str) -> bool:
    return not part or (part.isascii() and part.isdigit())


def parse_decimal(text: object, field: str) -> tuple[int, int]:
    """Parse ``text`` into ``(digits, decimals)`` with value ``digits / 10**decimals``.

    Trailing fractional zeros are dropped, so ``decimals`` is minimal.
    """
    if not isinstance(text, str):
        raise CeresError(ErrorCode.INVALID_TYPE, "must be a decimal string", field)
    if not text or len(text) > MAX_DECIMAL_LEN:
        raise CeresError(
            ErrorCode.INVALID_DECIMAL,
            f"must be a plain decimal of 1..{MAX_DECIMAL_LEN} characters",
            field,
        )
    int_part, _, frac = text.partition(".")
    if not ((int_part or frac) and _is_digits(int_part) and _is_digits(frac)):
        raise CeresError(ErrorCode.INVALID_DECIMAL, f"{text!r} is not a plain non-negative decimal", field)
    frac = frac.rstrip("0")
    return int(int_part + frac or "0"), len(frac)


def to_scaled(text: object, decimals: int, field: str,
              off_grid: ErrorCode = ErrorCode.AMOUNT_OFF_GRID, *, allow_zero: bool = False) -> int:
    """Parse ``text`` as an integer count of ``10**-decimals`` units.

    More decimals than ``decimals`` raise ``off_grid``; zero raises unless ``allow_zero``.
    """
    digits, n = parse_decimal(text, field)
    if n > decimals:
        raise CeresError(off_grid, f"{text} has more than {decimals} decimals", field)
    if digits == 0 and not allow_zero:
        raise CeresError(ErrorCode.INVALID_DECIMAL, "must be greater than zero", field)
    return digits * _POW10[decimals - n]


def to_steps(text: object, step: int, decimals: int, field: str, off_grid: ErrorCode,
             *, allow_zero: bool = False) -> int:
    """Parse ``text`` as a whole number of steps, a step being ``step * 10**-decimals``."""
    scaled = to_scaled(text, decimals, field, off_grid, allow_zero=allow_zero)
    count, rest = divmod(scaled, step)
    if rest:
        raise CeresError(off_grid, f"{text} is not a multiple of {format_scaled(step, decimals)}", field)
    return count


def format_scaled(value: int, decimals: int) -> str:
    """Render ``value * 10**-decimals`` in plain notation with trailing zeros stripped."""
    if decimals == 0:
        return str(value)
    sign = ""
    if value < 0:
        sign, value = "-", -value
    whole, frac = divmod(value, _POW10[decimals])
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{decimals}d}".rstrip("0")


def decimals_of(text: str, field: str = "value") -> int:
    """Number of significant decimals in a config value such as ``"0.05"`` (2)."""
    return parse_decimal(text, field)[1]


def pow10(n: int) -> int:
    """``10**n`` for ``0 <= n < 64`` (as an int; ``**`` on ints types as Any)."""
    return _POW10[n]


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)
