"""Golden signature vectors (tests/golden/signatures.json, from API.md section 2) checked
against the server's signing code (``ceres.gateway.auth``), the wire codec that turns a
JSON body into signed pairs (``ceres.gateway.protocol``) and the Python SDK
(``ceres.client``). The payload strings pin the exact text that is hashed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ceres import client
from ceres.gateway import auth, protocol
from ceres.wire import codec

GOLDEN = json.loads((Path(__file__).parent / "signatures.json").read_text(encoding="utf-8"))
SECRET = GOLDEN["secret"]


def _pairs(case: dict) -> list[tuple[str, str | None]]:
    return [(k, v) for k, v in case["params"]]


def test_api_md_vectors_are_present() -> None:
    names = {c["name"] for c in GOLDEN["rest"]}
    assert {"exchange BITMEX (API.md)", "no parameters (API.md)", "contract/count/exchange (API.md)",
            "DELETE system_oid path segment (API.md)"} <= names
    assert GOLDEN["ws"][0]["sign"] == "2bb24f69ca812c766a7bd73e3c2a331b55373a122bba8ede47ced0b4a07139c0"


@pytest.mark.parametrize("case", GOLDEN["rest"], ids=lambda c: c["name"])
def test_rest_vector(case: dict) -> None:
    pairs = _pairs(case)
    assert hashlib.sha256(case["payload"].encode()).hexdigest() == case["sign"]
    assert auth.sign_payload(pairs, SECRET) == case["payload"]
    assert auth.compute_sign(pairs, SECRET) == case["sign"]
    # the order pairs arrive in does not matter
    assert auth.compute_sign(list(reversed(pairs)), SECRET) == case["sign"]
    # the SDK signs a dict of the same parameters identically
    assert client.rest_sign(dict(pairs), SECRET) == case["sign"]


@pytest.mark.parametrize("case", GOLDEN["rest_keep_empty"], ids=lambda c: c["name"])
def test_rest_keep_empty_vector(case: dict) -> None:
    pairs = _pairs(case)
    assert auth.sign_payload(pairs, SECRET, keep_empty=True) == case["payload"]
    assert auth.compute_sign(pairs, SECRET, keep_empty=True) == case["sign"]
    assert auth.compute_sign(pairs, SECRET) != case["sign"]


@pytest.mark.parametrize("case", GOLDEN["json_body"], ids=lambda c: c["name"])
def test_json_body_vector(case: dict) -> None:
    """Body bytes -> signed pairs (numbers as their literal text) -> sign."""
    obj = codec.decode_json_object(case["body"].encode())
    assert auth.compute_sign(protocol.sign_params(obj), SECRET) == case["sign"]


@pytest.mark.parametrize("case", GOLDEN["ws"], ids=lambda c: c["name"])
def test_ws_vector(case: dict) -> None:
    assert hashlib.sha256(case["payload"].encode()).hexdigest() == case["sign"]
    assert auth.ws_sign(case["api_key"], case["secret"], case.get("timestamp")) == case["sign"]
    assert client.ws_sign(case["api_key"], case["secret"], case.get("timestamp")) == case["sign"]


def test_verifier_accepts_vectors() -> None:
    """The verifier (constant-time compare, keep-empty retry) on the golden signs."""
    from ceres.domain.secret import Secret
    from ceres.engine.ledger import ApiKey, Product

    key = ApiKey("bGppXpZqNrzVOptf", Secret(SECRET), Product("p", 0), 3, 0)
    verifier = auth.Authenticator({key.api_key: key})
    for case in GOLDEN["rest"]:
        assert verifier.verify_rest(key.api_key, case["sign"], _pairs(case), 0) is key
        assert verifier.verify_rest(key.api_key, case["sign"].upper(), _pairs(case), 0) is key
    for case in GOLDEN["rest_keep_empty"]:
        assert verifier.verify_rest(key.api_key, case["sign"], _pairs(case), 0) is key
    ws_key = ApiKey(GOLDEN["ws"][0]["api_key"], Secret(GOLDEN["ws"][0]["secret"]), Product("q", 0), 3, 0)
    ws_verifier = auth.Authenticator({ws_key.api_key: ws_key})
    assert ws_verifier.verify_ws(ws_key.api_key, GOLDEN["ws"][0]["sign"], None, 0) is ws_key
