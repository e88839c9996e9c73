"""``ceres.wire.faults``: unexpected exceptions are counted per kind and logged at most
once per kind and interval (with the traceback of the first, and how many were not
logged since); ``guarded`` turns them into ``CeresError(INTERNAL)``."""

from __future__ import annotations

import logging

import pytest

from ceres.domain.errors import CeresError, ErrorCode
from ceres.wire import faults
from ceres.wire.faults import Faults


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_one_line_per_kind_per_interval_with_counts(caplog):
    clock = Clock()
    f = Faults(interval_s=60, clock=clock, logger=logging.getLogger("test.faults"))
    with caplog.at_level(logging.ERROR, logger="test.faults"):
        for _ in range(1000):
            f.report(raised(ZeroDivisionError("x")), "REST GET /a")
        f.report(raised(KeyError("k")), "19001 message")
        assert len(caplog.records) == 2  # one per kind, not 1001
        assert caplog.records[0].exc_info is not None and "ZeroDivisionError" in caplog.records[0].getMessage()
        clock.now += 59.9
        f.report(raised(ZeroDivisionError("x")), "REST GET /a")
        assert len(caplog.records) == 2
        clock.now += 0.1
        f.report(raised(ZeroDivisionError("y")), "REST GET /b")
        assert len(caplog.records) == 3
        line = caplog.records[2].getMessage()
        assert "1002 of this kind so far" in line and "1000 not logged since the last line" in line, line
    assert f.counts == {"ZeroDivisionError": 1002, "KeyError": 1}


def test_guarded_reports_bugs_and_passes_refusals(monkeypatch):
    f = Faults(clock=Clock())
    monkeypatch.setattr(faults, "FAULTS", f)

    @faults.guarded("upgrade")
    def upgrade(kind: str) -> str:
        if kind == "bug":
            raise TypeError("unhashable")
        if kind == "refusal":
            raise CeresError(ErrorCode.AUTH_BAD_SIGN)
        return "ok"

    assert upgrade("fine") == "ok"
    with pytest.raises(CeresError) as info:
        upgrade("bug")
    assert info.value.error is ErrorCode.INTERNAL
    with pytest.raises(CeresError) as info:
        upgrade("refusal")
    assert info.value.error is ErrorCode.AUTH_BAD_SIGN
    assert f.counts == {"TypeError": 1}
