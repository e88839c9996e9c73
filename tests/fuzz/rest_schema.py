"""schemathesis against ``docs/openapi.yaml``: the document specialised to a server, the
signing hook, and what counts as accepted or rejected.

* :func:`load_schema`: the document with ``exchange`` and ``contract`` narrowed to the
  instruments the server is configured with (the document cannot list them: they are
  configuration), so that schema-valid requests reach the order book;
* :class:`Signer`: a ``requests`` auth hook that signs the request as it is sent
  (``api_key`` and ``sign`` headers, API.md section 2): GET/DELETE query values as the
  server decodes them, POST top-level JSON fields (numbers as their literal text,
  booleans ``true``/``false``), DELETE ``system_oid=<path segment>``;
* :data:`CHECKS`: no 5xx, every status and content type documented, every body valid
  against its schema, schema-violating requests rejected and schema-valid ones accepted.
  Trading errors come with HTTP 200 and an error ``code`` (the Java SDK drops non-2xx
  bodies), so the last two read the envelope: a code that says the request is
  malformed (400xx of the input's form) counts as a rejection like HTTP 400, a
  business refusal (unknown order, off-tick price, no balance) like 404/409 — refused
  for what the data means, not for its form.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests
import schemathesis
import yaml
import yarl
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from ceres.client import rest_sign
from ceres.gateway.protocol import sign_params
from ceres.wire.codec import decode_json_value

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"

MALFORMED = frozenset({"40001", "40002", "40003", "40004", "40005", "40012", "40013", "40014", "40020"})
"""Codes that say the request's form is wrong: a schema-valid request never gets them."""


# --- the document ------------------------------------------------------------------------------
CONTRACT_ONLY = ("future_dir", "lever", "profit_value", "stop_value", "deal_id", "close_rule")
"""Place fields read on contracts only: a spot order ignores their values."""


def specialise(doc: dict[str, Any], instruments: Iterable[tuple[str, str, bool]]) -> dict[str, Any]:
    """A copy of ``doc`` for a server with ``instruments`` (exchange, contract, is a
    contract): ``exchange``/``contract`` parameters and body fields are enums of the
    configured names ("" and null stay allowed where the field is optional: they mean
    absent); the contract-only fields of a place are free text on spot pairs; and
    ``timestamp`` is left out (any other value is refused as outside the window, which
    would hide the rest of the request from the fuzzing)."""
    doc = copy.deepcopy(doc)
    items = sorted(instruments)
    names = {"exchange": sorted({x for x, _, _ in items}), "contract": sorted({c for _, c, _ in items})}

    def narrow(schema: dict[str, Any], name: str, required: bool, absent: list[Any]) -> dict[str, Any]:
        if name == "timestamp":
            return {"enum": absent}
        if name == "exchange" or (name == "contract" and required):
            return {"enum": names[name] if required else [*names[name], *absent]}
        return schema  # an optional contract filter without an exchange matches nothing: not an error

    for param in doc["components"]["parameters"].values():
        param["schema"] = narrow(param["schema"], param["name"], param.get("required", False), [""])
    for schema in doc["components"]["schemas"].values():
        required = set(schema.get("required", ()))
        for name, prop in list(schema.get("properties", {}).items()):
            schema["properties"][name] = narrow(prop, name, name in required, ["", None])
    place = doc["components"]["schemas"]["PlaceRequest"]
    strict = {name: place["properties"][name] for name in CONTRACT_ONLY}
    for name in CONTRACT_ONLY:
        place["properties"][name] = {"$ref": "#/components/schemas/Text"}
    spot = [c for _, c, is_contract in items if not is_contract]
    place["allOf"].append({"if": {"properties": {"contract": {"enum": spot}}}, "else": {"properties": strict}})
    return doc


def load_schema(instruments: Iterable[tuple[str, str]], *, examples: int, seed: int) -> Any:
    doc = specialise(yaml.safe_load(DOC_PATH.read_text(encoding="utf-8")), instruments)
    config = schemathesis.Config.from_dict({
        "seed": seed,
        "generation": {"mode": "all", "max-examples": examples, "deterministic": True, "database": "none",
                       "no-shrink": False, "with-security-parameters": False},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
    })
    return schemathesis.openapi.from_dict(doc, config=config)


# --- signing -----------------------------------------------------------------------------------
class Signer(requests.auth.AuthBase):
    """Sets ``api_key`` and ``sign`` on a prepared request, over what the server will read."""

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key = api_key
        self.secret = secret

    def params(self, request: requests.PreparedRequest) -> list[tuple[str, str | None]]:
        url = yarl.URL(request.url or "", encoded=True)
        query = dict(url.query)  # the server reads the first value of a repeated key
        if request.method == "POST":
            body = request.body or b""
            body = body.encode() if isinstance(body, str) else body
            try:
                obj = decode_json_value(body) if body.strip() else {}
            except Exception:  # the server refuses the body before it looks at the sign
                obj = {}
            if not isinstance(obj, dict):
                obj = {}
            return sign_params(obj) + [(k, v) for k, v in query.items() if k not in obj]
        if request.method == "DELETE" and url.path.startswith("/api/v1/trade/order/"):
            query["system_oid"] = url.path.rsplit("/", 1)[1]
        return list(query.items())

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        pairs = dict(self.params(request))
        request.headers["api_key"] = self.api_key
        request.headers["sign"] = rest_sign(pairs, self.secret)
        return request


# --- checks ------------------------------------------------------------------------------------
def is_trading(case: Any) -> bool:
    return case.path.startswith("/api/v1/trade/") or case.path.startswith("/api/v1/basic/")


def envelope_code(response: Any) -> str | None:
    """The reply's code; for a batch (a list of item results in ``data``), the first item's
    code that is not "0", so a batch whose items were refused counts as refused."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    if body.get("code") == "200" and isinstance(data, list):
        failed = [row.get("code") for row in data if isinstance(row, dict) and row.get("code") not in (None, "0")]
        if failed:
            return str(failed[0])
    return body.get("code")


def effective_status(response: Any) -> int:
    """The HTTP status a trading reply would have if errors were not HTTP 200."""
    if response.status_code == 431:  # a request line over the limit: refused for its form (40023)
        return 400
    if response.status_code != 200:
        return response.status_code
    code = envelope_code(response)
    if code is None or code == "200":
        return 200
    if code in MALFORMED:
        return 400
    if code.startswith("403"):
        return 403
    if code.startswith("404"):
        return 404
    if code.startswith("429"):
        return 429
    return 409  # refused for what the data means (state, grid, balance), not for its form


def _with_status(response: Any, status: int) -> Any:
    out = copy.copy(response)
    out.status_code = status
    return out


def _market_params(case: Any) -> dict[str, Any]:
    params = case.query if case.method == "GET" else case.body
    return params if isinstance(params, dict) else {}


def market_size_ignored(case: Any) -> bool:
    """``begin`` and ``end`` both given: ``size`` is ignored (only its type is checked),
    which the query parameters of an OpenAPI operation cannot say."""
    params = _market_params(case)
    return "/market/" in case.path and all(params.get(k) not in (None, "") for k in ("begin", "end"))


def market_range_inverted(case: Any) -> bool:
    """``begin`` after ``end`` (both given): a rule between two fields the schema cannot say."""
    params = _market_params(case)
    try:
        return int(params["begin"]) > int(params["end"])
    except (KeyError, TypeError, ValueError):
        return False


def negative_data_rejected(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request that violates the schema is refused (HTTP 4xx, or an error envelope) —
    except for what a schema cannot say (``market_size_ignored``, ``ambiguous_numbers``)."""
    if is_trading(case):
        response = _with_status(response, effective_status(response))
    elif response.status_code == 200 and market_size_ignored(case):
        return None
    if response.status_code == 200 and ambiguous_numbers(case):
        return None
    return negative_data_rejection(ctx, response, case)


def ambiguous_numbers(case: Any) -> bool:
    """The body holds a number JSON Schema reads differently from the server: a float
    with an integral value (``100.0``, ``1e+300``: an integer to JSON Schema, not to the
    server, which reads numbers as written) or written with an exponent (``1e-05``: a
    number to JSON Schema, not a plain decimal). The server's answer to those is right
    either way: an integer field refuses ``100.0`` (40005), a decimal ``1e-05`` (40007),
    a market range ``4833.0`` (400), and an unknown field may hold ``1e+300``."""
    stack = [case.body]
    while stack:
        node = stack.pop()
        if isinstance(node, float) and (node.is_integer() or "e" in repr(node) or node != node):
            return True
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def positive_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request is not refused for its form: trading replies never carry a
    malformed-input code; market replies are 200 unless ``begin`` > ``end`` — except for
    what a schema cannot say (``ambiguous_numbers``)."""
    if is_trading(case):
        code = envelope_code(response)
        if code in ("40005", "40007") and ambiguous_numbers(case):
            return None
        response = _with_status(response, effective_status(response))
    elif response.status_code == 400 and (market_range_inverted(case) or ambiguous_numbers(case)):
        return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejected, positive_data_accepted]
