"""Optional server parts installed by ``ceres serve``: push notices, market data and the
liquidity simulator (each added by its own module as it exists)."""

from __future__ import annotations

from typing import Any


def install(server: Any, *, simulator: bool = True) -> None:
    """Attach the optional parts to ``server`` before it starts."""
    return None
