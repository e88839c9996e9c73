"""Does a venue accept a key? One read call (the balances), for ``ceres venues connect``.

The answer is three-valued, as the operator needs it: the venue read the balances (the
key works), the venue refused the key (ccxt's ``AuthenticationError`` family: a wrong key,
secret or passphrase, missing permissions, a suspended account), or the venue could not be
asked (network, timeout, maintenance, anything else), in which case nothing is known.
"""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

from ceres.venues.live.factory import make_exchange


async def check_key(exchange: str, api_key: str, secret: str, password: str | None, *, rest_url: str = "",
                    sandbox: bool = False, timeout_ms: int = 10000) -> tuple[bool | None, str]:
    ex: Any = make_exchange(exchange, api_key=api_key, secret=secret, password=password,
                            rest_url=rest_url or None, sandbox=sandbox, timeout_ms=timeout_ms)
    try:
        balance = await ex.fetch_balance()
    except ccxt_async.AuthenticationError as exc:  # PermissionDenied, AccountSuspended... are subclasses
        return False, f"{type(exc).__name__}: {_short(exc)}"
    except ccxt_async.BaseError as exc:
        return None, f"{exchange} could not be asked ({type(exc).__name__}: {_short(exc)})"
    finally:
        await ex.close()
    held = sorted(cur for cur, total in (balance.get("total") or {}).items() if total not in (None, "0", 0))
    return True, f"balances read ({len(held)} currencies held)"


def _short(exc: Exception, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "…"
