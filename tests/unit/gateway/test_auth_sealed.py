"""The verifier with sealed secrets: signs check against the unsealed secret, which is
unsealed once and then kept in a bounded cache, dropped on revoke; a secret that does not
open is the server's fault (500), never a pass."""

from __future__ import annotations

import pytest

from ceres.crypto.sealing import DataKeys, new_key
from ceres.domain.errors import CeresError, ErrorCode
from ceres.domain.secret import SealedSecret, Secret
from ceres.engine.ledger import ApiKey, Product
from ceres.gateway.auth import Authenticator, compute_sign, ws_sign

NOW = 1_760_000_000_000
SECRETS = {f"sealedKey{i:07d}": f"{i}".rjust(32, "S") for i in range(3)}


class CountingKeys:
    def __init__(self) -> None:
        self.keys = DataKeys({1: new_key()}, 1)
        self.unsealed: list[str] = []

    def unseal(self, api_key: str, sealed: SealedSecret) -> Secret:
        self.unsealed.append(api_key)
        return self.keys.unseal(api_key, sealed)


@pytest.fixture
def rig() -> tuple[Authenticator, CountingKeys, dict[str, ApiKey]]:
    keys = CountingKeys()
    product = Product("fund", 0)
    table = {k: ApiKey(k, keys.keys.seal(k, s), product, 3, 0) for k, s in SECRETS.items()}
    return Authenticator(table, unseal=keys.unseal, cache_size=2), keys, table


def rest(auth: Authenticator, api_key: str, secret: str) -> ApiKey:
    params = [("exchange", "TEST")]
    return auth.verify_rest(api_key, compute_sign(params, secret), params, NOW)


def test_signs_verify_against_the_sealed_secret(rig):
    auth, _, table = rig
    for api_key, secret in SECRETS.items():
        assert rest(auth, api_key, secret) is table[api_key]
        assert auth.verify_ws(api_key, ws_sign(api_key, secret), None, NOW) is table[api_key]
        with pytest.raises(CeresError) as info:
            rest(auth, api_key, "x" * 32)
        assert info.value.error is ErrorCode.AUTH_BAD_SIGN


def test_unsealed_once_then_cached_bounded_and_dropped_on_revoke(rig):
    auth, keys, table = rig
    a, b, c = SECRETS
    for _ in range(3):
        rest(auth, a, SECRETS[a])
    assert keys.unsealed == [a]
    rest(auth, b, SECRETS[b])
    rest(auth, c, SECRETS[c])  # the cache holds 2: a, the least recently used, goes
    rest(auth, a, SECRETS[a])
    assert keys.unsealed == [a, b, c, a]
    table[a].revoked = True
    with pytest.raises(CeresError) as info:
        rest(auth, a, SECRETS[a])
    assert info.value.error is ErrorCode.AUTH_KEY_REVOKED
    assert a not in auth._plain  # the revoked key's plain secret is gone from memory
    auth.forget(c)
    rest(auth, c, SECRETS[c])
    assert keys.unsealed[-1] == c


def test_a_resealed_secret_is_unsealed_again(rig):
    auth, keys, table = rig
    a = next(iter(SECRETS))
    rest(auth, a, SECRETS[a])
    table[a].secret = keys.keys.seal(a, SECRETS[a])  # e.g. `ceres keys seal` gave it a new value
    rest(auth, a, SECRETS[a])
    assert keys.unsealed == [a, a]


def test_a_secret_that_does_not_open_is_an_internal_error(rig):
    auth, _, table = rig
    a = next(iter(SECRETS))
    table[a].secret = DataKeys({1: new_key()}, 1).seal(a, SECRETS[a])  # another data directory's key
    with pytest.raises(CeresError) as info:
        rest(auth, a, SECRETS[a])
    assert info.value.error is ErrorCode.INTERNAL
    without = Authenticator(table)  # no unsealer: sealed keys cannot pass
    with pytest.raises(CeresError) as info:
        rest(without, a, SECRETS[a])
    assert info.value.error is ErrorCode.INTERNAL
