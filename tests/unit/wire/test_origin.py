"""The WebSocket ``Origin`` allowlist: origins compared in their serialized form, a
browser Origin not listed refused with 403 and the envelope (never echoing it), no
Origin (a non-browser client) admitted, and the listener factory not even called for a
refused upgrade."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict

from ceres.wire.origin import OriginPolicy, normalize_origin, origin_guard


@pytest.mark.parametrize(("text", "normal"), [
    ("https://Trade.Example.com", "https://trade.example.com"),
    ("https://trade.example.com:443", "https://trade.example.com"),
    ("http://trade.example.com:80/", "http://trade.example.com"),
    ("http://127.0.0.1:19000", "http://127.0.0.1:19000"),
    ("https://[::1]:8443", "https://[::1]:8443"),
    ("null", "null"),
])
def test_normalize_origin(text, normal):
    assert normalize_origin(text) == normal


@pytest.mark.parametrize("text", ["trade.example.com", "ftp://example.com", "https://example.com/app",
                                  "https://example.com?x=1", "https://user@example.com", "https://example.com:99999",
                                  "https://"])
def test_not_an_origin(text):
    with pytest.raises(ValueError):
        normalize_origin(text)


def test_policy_admits_listed_origins_and_clients_without_one():
    policy = OriginPolicy(["https://console.example.com:443", "http://127.0.0.1:19000"])
    assert policy.admits(None)
    assert policy.admits("https://console.example.com")
    assert policy.admits("http://127.0.0.1:19000")
    assert not policy.admits("http://127.0.0.1:19001")
    assert not policy.admits("https://evil.example")
    assert not policy.admits("null")
    assert not policy.admits("garbage")
    empty = OriginPolicy([])
    assert empty.admits(None) and not empty.admits("https://console.example.com")


class _Request:
    def __init__(self, *origins: str) -> None:
        self.headers = CIMultiDict(("Origin", o) for o in origins)


def test_guard_refuses_before_the_factory_runs():
    calls, rejects = [], []
    guarded = origin_guard(lambda req: calls.append(req) or "listener", OriginPolicy(["https://ok.example"]),
                           rejects.append)
    assert guarded(_Request()) == "listener"
    assert guarded(_Request("https://ok.example")) == "listener"
    assert len(calls) == 2
    for bad in (_Request("https://evil.example"), _Request("https://ok.example", "https://ok.example")):
        refused = guarded(bad)
        assert refused.listener is None and int(refused.response.status) == 403
        body = json.loads(refused.response.body)
        assert body == {"code": "40302", "data": None,
                        "message": "WebSocket connections from this Origin are not allowed"}
    assert len(calls) == 2 and rejects == ["40302", "40302"]


def test_no_policy_means_no_check():
    factory = lambda req: "listener"  # noqa: E731
    assert origin_guard(factory, None) is factory
