"""Wire enums, the redacted Secret type and the journal encoding of commands."""

from __future__ import annotations

import msgspec
import pytest

from ceres.domain import commands as C
from ceres.domain.enums import (
    FINAL_STATUSES,
    AccountType,
    FutureDir,
    Kind,
    OrderStatus,
    Permission,
    PriceType,
    Side,
    permission_names,
    permissions_mask,
)
from ceres.domain.secret import Secret, secret_dec_hook, secret_enc_hook

SECRET = "TQAFrtRS4WrUn1hHKByszao3ozWvIMkF"


def test_status_wire_values() -> None:
    assert {s.name: int(s) for s in OrderStatus} == {
        "NO_REPORT": 1, "SUBMITTING": 2, "SUBMITTED": 3, "PART_FILLED": 4, "FILLED": 5,
        "FAILURE": 6, "CANCEL": 11, "CANCELING": 12, "PENDING": 13, "PART_CANCELED": 14,
        "CANCELED": 15}
    assert {5, 6, 14, 15} == FINAL_STATUSES
    assert OrderStatus.PART_FILLED.notice == "PART_FILLED"
    assert not OrderStatus.PART_FILLED.is_final and OrderStatus.CANCELED.is_final


def test_other_wire_values() -> None:
    assert (Kind.DATED, Kind.PERPETUAL, Kind.SPOT) == (1, 3, 4)
    assert Kind.PERPETUAL.is_contract and not Kind.SPOT.is_contract
    assert [int(a) for a in AccountType] == [1, 2, 3, 4]
    assert AccountType.SPOT.per_venue and not AccountType.SETTLEMENT.per_venue
    assert (Side.BUY.wire, Side.SELL.wire, Side.BUY.opposite) == ("buy", "sell", Side.SELL)
    assert (PriceType.LIMIT.wire, PriceType.MARKET.wire) == ("limit", "market")
    assert [d.wire for d in FutureDir] == ["", "open", "close"]


def test_permissions() -> None:
    assert permissions_mask(["read", " Trade "]) == Permission.READ | Permission.TRADE == 3
    assert permission_names(3) == ["read", "trade"] and permission_names(2) == ["trade"]
    with pytest.raises(ValueError):
        permissions_mask(["admin"])


def test_secret_never_prints() -> None:
    s = Secret(SECRET)
    assert str(s) == repr(s).replace("Secret('", "").replace("')", "") == "***"
    assert f"{s}" == f"{s}" == f"{s}" == "***"
    assert SECRET not in repr([s, {"k": s}])
    assert s.reveal() == SECRET and s == SECRET and hash(s) == hash(SECRET)
    assert s.equals(SECRET) and not s.equals(SECRET[:-1] + "x")


def test_create_key_repr_hides_secret_and_journal_round_trip() -> None:
    cmd = C.CreateKey("testbc-btc", "bGppXpZqNrzVOptf", Secret(SECRET), 3)
    assert SECRET not in repr(cmd)
    data = msgspec.msgpack.encode(cmd, enc_hook=secret_enc_hook)
    assert SECRET.encode() in data  # the journal keeps the real secret
    back = msgspec.msgpack.decode(data, type=C.ANY_COMMAND, dec_hook=secret_dec_hook)
    assert back == cmd and isinstance(back.secret, Secret) and back.secret.reveal() == SECRET


@pytest.mark.parametrize("cmd", [
    C.Place("p", "TEST", "BTC/USDT", 1, 1, 3_000_000, 5000, "coid-1"),
    C.Place("p", "TEST", "BTC/USDT", 2, 2, 0, 7),
    C.Cancel("p", (1, 2, 3)), C.CreateProduct("p"), C.RevokeKey("k" * 16),
    C.Deposit("p", "USDT", 10**18), C.Withdraw("p", "BTC", 1),
    C.Transfer("p", "USDT", 5, 2, 3, "TEST"),
])
def test_commands_are_tagged_arrays(cmd: C.Command) -> None:
    data = msgspec.msgpack.encode(cmd)
    raw = msgspec.msgpack.decode(data)
    assert isinstance(raw, list) and raw[0] == type(cmd).__struct_config__.tag
    assert msgspec.msgpack.decode(data, type=C.ANY_COMMAND) == cmd


def test_fixed_journal_tags() -> None:
    tags = {t.__name__: t.__struct_config__.tag for t in C.ANY_COMMAND.__args__}
    assert tags == {"Place": "place", "Cancel": "cancel", "CreateProduct": "product",
                    "CreateKey": "key", "RevokeKey": "revoke", "Deposit": "deposit",
                    "Withdraw": "withdraw", "Transfer": "transfer", "SetIndex": "index",
                    "SetFundingRate": "funding", "Tick": "tick", "SetKey": "setkey",
                        "ConnectVenue": "venuekey", "DisconnectVenue": "venueoff", "DefineInstrument": "instrument",
                        "VenueReport": "report", "SetPaperVenue": "paper", "CancelAll": "cancelall",
                        "CancelAllAfter": "deadman", "Amend": "amend"}
    # every command the engine takes decodes from the journal (a new one missing here would be
    # journaled, then refused at replay)
    assert {t for t in vars(C).values() if isinstance(t, type) and issubclass(t, C.Command)
            and t is not C.Command} == set(C.ANY_COMMAND.__args__)
    # an older journal record without the trailing defaulted fields still decodes
    old = msgspec.msgpack.encode(["place", "p", "TEST", "BTC/USDT", 1, 1, 5, 1])
    assert msgspec.msgpack.decode(old, type=C.ANY_COMMAND) == C.Place("p", "TEST", "BTC/USDT", 1, 1, 5, 1)


def test_wrapping_a_secret_keeps_its_value() -> None:
    """Regression: Secret(Secret(x)) used to hold the redacted text '***'."""
    inner = Secret(SECRET)
    outer = Secret(inner)
    assert outer.reveal() == SECRET and outer == inner and len(outer) == 32
    assert str(outer) == "***"
