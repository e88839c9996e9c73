"""Products, API keys, deposits, withdrawals and transfers between account types."""

from __future__ import annotations

import pytest

from ceres.domain import commands as C
from ceres.domain.errors import ErrorCode
from ceres.domain.secret import Secret
from engine_helpers import SETTLEMENT, SPOT, USDT

SECRET = "bcBFnn3GbFz1cB73f5TkJa8P5gbrFdgt"
KEY = "bGppXpZqNrzVOptf"


def test_deposit_lands_in_settlement_and_counts_as_net_deposit(h) -> None:
    assert h.apply(C.Deposit("alice", "USDT", 5 * USDT)) == 5 * USDT
    assert h.apply(C.Deposit("alice", "USDT", 1)) == 5 * USDT + 1
    assert h.bal("alice", "USDT", SETTLEMENT) == (5 * USDT + 1, 0)
    assert h.bal("alice", "USDT", SPOT) == (0, 0)
    assert h.eng.ledger.net_deposits == {"USDT": 5 * USDT + 1}


@pytest.mark.parametrize(("cmd", "code", "field"), [
    (C.Deposit("alice", "USDT", 0), ErrorCode.INVALID_DECIMAL, "amount"),
    (C.Deposit("alice", "USDT", -1), ErrorCode.INVALID_DECIMAL, "amount"),
    (C.Deposit("alice", "DOGE", 1), ErrorCode.INVALID_VALUE, "currency"),
    (C.Deposit("mallory", "USDT", 1), ErrorCode.UNKNOWN_PRODUCT, "product"),
    (C.Withdraw("alice", "USDT", 0), ErrorCode.INVALID_DECIMAL, "amount"),
    (C.Withdraw("carol", "USDT", 1), ErrorCode.INSUFFICIENT_BALANCE, None),
    (C.Transfer("alice", "USDT", 1, SETTLEMENT, SETTLEMENT), ErrorCode.INVALID_VALUE, "to"),
    (C.Transfer("alice", "USDT", 1, SPOT, SPOT, "TEST"), ErrorCode.INVALID_VALUE, "to"),
    (C.Transfer("alice", "USDT", 1, 1, SPOT, "TEST"), ErrorCode.INVALID_VALUE, "from"),
    (C.Transfer("alice", "USDT", 1, SETTLEMENT, 5, "TEST"), ErrorCode.INVALID_VALUE, "to"),
    (C.Transfer("alice", "USDT", 1, SETTLEMENT, SPOT, "BITMEX"), ErrorCode.UNKNOWN_EXCHANGE, "exchange"),
    (C.Transfer("alice", "USDT", 1, SETTLEMENT, SPOT, ""), ErrorCode.UNKNOWN_EXCHANGE, "exchange"),
    (C.Transfer("alice", "USDT", 0, SETTLEMENT, SPOT, "TEST"), ErrorCode.INVALID_DECIMAL, "amount"),
    (C.Transfer("carol", "USDT", 1, SETTLEMENT, SPOT, "TEST"), ErrorCode.INSUFFICIENT_BALANCE, None),
])
def test_fund_errors(h, cmd, code, field) -> None:
    h.apply(C.Deposit("alice", "USDT", 10 * USDT))
    err = h.reject(cmd)
    assert (err.error, err.field) == (code, field)


def test_withdraw_only_from_available_settlement_funds(h) -> None:
    h.fund("alice", "USDT", 10 * USDT)  # all of it moved to spot
    assert h.reject(C.Withdraw("alice", "USDT", 1)).error is ErrorCode.INSUFFICIENT_BALANCE
    h.apply(C.Transfer("alice", "USDT", 4 * USDT, SPOT, SETTLEMENT, "TEST"))
    assert h.reject(C.Withdraw("alice", "USDT", 4 * USDT + 1)).error is ErrorCode.INSUFFICIENT_BALANCE
    assert h.apply(C.Withdraw("alice", "USDT", 4 * USDT)) == 0
    assert h.bal("alice", "USDT", SETTLEMENT) == (0, 0)
    assert h.bal("alice", "USDT", SPOT) == (6 * USDT, 0)
    assert h.eng.ledger.net_deposits == {"USDT": 6 * USDT}


def test_transfer_moves_available_funds_between_accounts(h) -> None:
    h.apply(C.Deposit("alice", "USDT", 10 * USDT))
    assert h.apply(C.Transfer("alice", "USDT", 3 * USDT, SETTLEMENT, SPOT, "TEST")) == 7 * USDT
    assert h.apply(C.Transfer("alice", "USDT", 2 * USDT, SPOT, 4, "TEST")) == 1 * USDT
    assert h.bal("alice", "USDT", SETTLEMENT) == (7 * USDT, 0)
    assert h.bal("alice", "USDT", SPOT) == (1 * USDT, 0)
    assert h.bal("alice", "USDT", 4) == (2 * USDT, 0)
    # settlement ignores the exchange argument
    h.apply(C.Transfer("alice", "USDT", 1, SETTLEMENT, SPOT, "TEST"))
    assert h.eng.ledger.net_deposits == {"USDT": 10 * USDT}


def test_frozen_funds_cannot_be_transferred(h) -> None:
    h.fund("alice", "USDT", 1000 * USDT)
    h.buy("alice", 3_000_000, 100)  # freezes 300.15 USDT
    avail = 1000 * USDT - 30_015_000_000
    err = h.reject(C.Transfer("alice", "USDT", avail + 1, SPOT, SETTLEMENT, "TEST"))
    assert err.error is ErrorCode.INSUFFICIENT_BALANCE
    h.apply(C.Transfer("alice", "USDT", avail, SPOT, SETTLEMENT, "TEST"))
    assert h.bal("alice", "USDT") == (30_015_000_000, 30_015_000_000)


@pytest.mark.parametrize("name", ["testbc-btc", "a", "A.b_c-9", "x" * 64])
def test_valid_product_names(h, name) -> None:
    h.apply(C.CreateProduct(name))
    assert h.eng.products[name].created == h.now


@pytest.mark.parametrize("name", ["", "x" * 65, "a b", "a/b", "a:b", "é\u200b"])
def test_invalid_product_names(h, name) -> None:
    err = h.reject(C.CreateProduct(name))
    assert (err.error, err.field) == (ErrorCode.INVALID_VALUE, "name")


def test_duplicate_product(h) -> None:
    err = h.reject(C.CreateProduct("alice"))
    assert (err.error, err.field) == (ErrorCode.ALREADY_EXISTS, "name")


def test_create_and_revoke_key(h) -> None:
    h.apply(C.CreateKey("alice", KEY, Secret(SECRET), 3))
    key = h.eng.keys[KEY]
    assert (key.product.name, key.permissions, key.revoked, key.created) == ("alice", 3, False, h.now)
    assert key.secret.reveal() == SECRET and SECRET not in repr(key)
    h.apply(C.RevokeKey(KEY))
    assert h.eng.keys[KEY].revoked
    h.apply(C.RevokeKey(KEY))  # revoking twice is harmless
    assert h.eng.keys[KEY].revoked


@pytest.mark.parametrize(("cmd", "code", "field"), [
    (C.CreateKey("mallory", KEY, Secret(SECRET), 3), ErrorCode.UNKNOWN_PRODUCT, "product"),
    (C.CreateKey("alice", KEY[:15], Secret(SECRET), 3), ErrorCode.INVALID_VALUE, "api_key"),
    (C.CreateKey("alice", KEY + "x", Secret(SECRET), 3), ErrorCode.INVALID_VALUE, "api_key"),
    (C.CreateKey("alice", "bGppXpZqNrzVOpt-", Secret(SECRET), 3), ErrorCode.INVALID_VALUE, "api_key"),
    (C.CreateKey("alice", "bGppXpZqNrzVOptä", Secret(SECRET), 3), ErrorCode.INVALID_VALUE, "api_key"),
    (C.CreateKey("alice", KEY, Secret(SECRET[:31]), 3), ErrorCode.INVALID_VALUE, "secret"),
    (C.CreateKey("alice", KEY, Secret(SECRET), 0), ErrorCode.INVALID_VALUE, "permissions"),
    (C.RevokeKey("nokeynokeynokey1"), ErrorCode.UNKNOWN_KEY, "api_key"),
])
def test_key_errors(h, cmd, code, field) -> None:
    err = h.reject(cmd)
    assert (err.error, err.field) == (code, field)


def test_duplicate_key_even_for_another_product(h) -> None:
    h.apply(C.CreateKey("alice", KEY, Secret(SECRET), 1))
    err = h.reject(C.CreateKey("bob", KEY, Secret(SECRET), 1))
    assert err.error is ErrorCode.ALREADY_EXISTS
    assert h.eng.keys[KEY].product.name == "alice"
