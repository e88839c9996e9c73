"""docs/openapi.yaml against the real server: every REST route the server has is
documented, and real responses (successes and errors, captured over sockets from a
running server) validate against the schema the document gives for that path, method
and HTTP status (JSON Schema Draft 2020-12). The strict objects reject unknown keys.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ceres.domain.errors import ErrorCode
from tests.serverproc import ServerProcess

from .api_helpers import demo_rest, make_product

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
DOC = yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))
URI = "urn:ceres:openapi"
REGISTRY = Registry().with_resource(URI, Resource(contents=DOC, specification=DRAFT202012))
X, C = "TEST", "BTC/USDT"


def pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def validator(ptr: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{URI}#{ptr}"}, registry=REGISTRY)


def response_schema_ptr(path: str, method: str, status: int, media: str = "application/json") -> str:
    op = DOC["paths"][path][method.lower()]
    response = op["responses"].get(str(status))
    assert response is not None, f"{method} {path} does not document HTTP {status}"
    if "$ref" in response:  # components/responses/X
        name = response["$ref"].rsplit("/", 1)[1]
        return pointer("components", "responses", name, "content", media, "schema")
    return pointer("paths", path, method.lower(), "responses", str(status), "content", media, "schema")


# --- the document itself ---------------------------------------------------------------------
def test_document_is_openapi_3_1_with_valid_schemas():
    assert DOC["openapi"].startswith("3.1")
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    # every $ref resolves
    resolver = REGISTRY.resolver(base_uri=URI)

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    resolver.lookup(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(DOC)


def test_error_code_enum_is_the_error_table():
    assert set(DOC["components"]["schemas"]["ErrorCode"]["enum"]) == {m.code for m in ErrorCode}


def documented_routes() -> set[tuple[str, str, str]]:
    return {(m.upper(), p, op["operationId"]) for p, item in DOC["paths"].items() for m, op in item.items()
            if m in ("get", "post", "delete", "put")}


def test_the_operations_table_and_the_document_agree():
    """Every REST route of the operations table (trading), the market routes and the
    service routes is documented under its operationId, and nothing else is."""
    from ceres.gateway.operations import OPERATIONS, SERVICE_ROUTES
    from ceres.market.rest import MARKET_ROUTES

    table = {route for op in OPERATIONS for route in op.routes}
    table |= {route for _, routes in MARKET_ROUTES for route in routes}
    table |= set(SERVICE_ROUTES)
    assert documented_routes() == table


def test_the_servers_routes_are_the_tables():
    """What the REST app actually routes (read, not called) is what the table says."""
    from ceres.gateway.http import RestApi
    from ceres.gateway.operations import OPERATIONS
    from ceres.market.rest import MarketRest

    class Stub:  # any handler attribute: a coroutine that is never called
        def __getattr__(self, name):
            async def nothing(*_):  # pragma: no cover
                raise AssertionError(name)
            return nothing

    routes = {(r.method, r.path) for r in RestApi(Stub(), None).routes()}
    assert routes == {(m, p) for op in OPERATIONS for m, p, _ in op.routes}
    market = {(r.method, r.path) for r in MarketRest(None, None, None, None).routes()}
    assert routes | market | {("GET", "/health"), ("GET", "/metrics")} == {(m, p) for m, p, _ in documented_routes()}


def test_every_biz_type_is_an_operation_with_a_rest_twin():
    from ceres.gateway.operations import BY_BIZ_TYPE

    assert sorted(BY_BIZ_TYPE) == [11, 12, 13, 14, 15, 16, 17, 21, 22, 23, 24, 25]
    for op in BY_BIZ_TYPE.values():
        assert op.routes, op.name


def test_strict_objects_reject_unknown_keys():
    order = {"system_oid": "1179502652812165120", "client_oid": "", "contract": C, "entrust_bs": "buy",
             "future_dir": "", "entrust_price": "10", "entrust_amount": "1", "entrust_time": "2019-05-31 12:00:00",
             "average_dealt_price": "0", "dealt_amount": "0", "status": 3, "lever": "1", "profit_value": "0",
             "stop_value": "0", "commission": "0"}
    v = validator(pointer("components", "schemas", "Order"))
    v.validate(order)
    for bad in ({**order, "extra": 1}, {**order, "status": "3"}, {**order, "commission": "0.10"},
                {**order, "entrust_price": "1e-05"}, {**order, "system_oid": "123"}):
        with pytest.raises(ValidationError):
            v.validate(bad)
    row = validator(pointer("components", "schemas", "AccountRow"))
    row.validate({"account_type": 2, "balance": "0", "currency": "BTC", "frozen": "0", "market_value": "0"})
    with pytest.raises(ValidationError):  # exchange only on types 3/4
        row.validate({"account_type": 2, "balance": "0", "currency": "BTC", "frozen": "0", "market_value": "0",
                      "exchange": "TEST"})
    with pytest.raises(ValidationError):
        row.validate({"account_type": 3, "balance": "0", "currency": "BTC", "frozen": "0", "market_value": "0"})
    env = validator(pointer("components", "schemas", "ErrorEnvelope"))
    with pytest.raises(ValidationError):
        env.validate({"code": "200", "data": None, "message": "SUCESS"})


# --- real responses ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """(documented path, method, HTTP status, body) of real responses, success and error,
    for every documented operation."""
    proc = ServerProcess(tmp_path_factory.mktemp("openapi") / "data", extra_args=("--no-simulator",)).start()
    out: list[tuple[str, str, int, object]] = []
    try:
        demo = demo_rest(proc)
        cp = make_product(proc, "cp", {"BTC": "1"})
        api = "/api/v1/"

        def take(path: str, method: str, rest_path: str, params=None, **kw):
            status, body = demo.call(method, rest_path, params, **kw)
            out.append((path, method, status, body))
            return body

        def take_raw(path: str, method: str, rest_path: str, **kw):
            status, body = demo.raw(method, rest_path, **kw)
            out.append((path, method, status, body))
            return body

        order = {"exchange": X, "contract": C, "price_type": "limit", "entrust_bs": "buy", "entrust_price": "100",
                 "entrust_vol": "0.5", "client_oid": "oa"}
        cp.place(exchange=X, contract=C, price_type="limit", entrust_bs="sell", entrust_price="100",
                 entrust_vol="0.2")
        placed = take(api + "trade/input", "POST", "trade/input", order)["data"]["system_oid"]  # part filled
        take(api + "trade/input", "POST", "trade/input", {**order, "entrust_price": "1.001"})  # 40008
        take(api + "trade/input", "POST", "trade/input", body=b"{oops", signed=[])  # 40001
        take(api + "trade/input", "POST", "trade/input", body=b'{"pad":"' + b"x" * 70_000 + b'"}', signed=[])  # 413
        take(api + "trade/input", "POST", "trade/input", order, sign_value="0" * 64)  # 401
        market = take(api + "trade/input", "POST", "trade/input",
                      {"exchange": X, "contract": C, "price_type": "market", "entrust_bs": "sell",
                       "entrust_vol": "0.1"})["data"]["system_oid"]
        second = demo.place(**{**order, "entrust_price": "90", "client_oid": "ob"})["system_oid"]

        take(api + "basic/contracts", "GET", "basic/contracts", {"exchange": X})
        take(api + "basic/contracts", "GET", "basic/contracts", {"exchange": X, "contract": "ADA_BTC"})
        take(api + "basic/contracts", "GET", "basic/contracts", {"exchange": "NOPE"})
        take(api + "basic/contracts", "GET", "basic/contracts", {"exchange": X}, api_key="ZZZZZZZZZZZZZZZZ")

        take(api + "trade/account", "GET", "trade/account")
        take(api + "trade/account", "GET", "trade/account", {"exchange": X})
        take(api + "trade/account", "GET", "trade/account", {"exchange": "NOPE"})
        take_raw(api + "trade/account", "GET", "trade/account", headers={})  # 401 40101

        take(api + "trade/order", "GET", "trade/order")
        take(api + "trade/order", "GET", "trade/order", {"system_oid": f"{placed},{market},{second}"})
        take(api + "trade/order", "GET", "trade/order", {"systemOid": placed, "status": "4"})
        take(api + "trade/order", "GET", "trade/order", {"system_oid": "1179500000000000000"})
        take(api + "trade/order", "GET", "trade/order", {"status": "nine"})

        take(api + "trade/open_orders", "GET", "trade/open_orders")
        take(api + "trade/open_orders", "GET", "trade/open_orders", {"limit": "1"})
        take(api + "trade/open_orders", "GET", "trade/open_orders", {"limit": "500"})
        take(api + "trade/open_orders", "POST", "trade/open_orders", {"limit": 1, "exchange": X})
        take(api + "trade/open_orders", "POST", "trade/open_orders", {"limit": "x"})

        take(api + "trade/position", "GET", "trade/position", {"exchange": X})
        take(api + "trade/position", "GET", "trade/position", {"positionDir": "up"})

        take(api + "trade/trans", "GET", "trade/trans", {"exchange": X, "contract": C, "count": "10"})
        take(api + "trade/trans", "GET", "trade/trans", {"exchange": X, "contract": C, "count": "99"})
        take(api + "trade/trans", "GET", "trade/trans", {"exchange": X, "contract": C})

        take(api + "trade/close", "POST", "trade/close", order)  # 40015 on spot
        take(api + "trade/close", "POST", "trade/close", {})  # 40004
        take(api + "trade/close", "POST", "trade/close", order, sign_value="1" * 64)  # 401

        take(api + "trade/order/{ids}", "DELETE", f"trade/order/{placed},{market},1179500000000000000",
             signed=[("system_oid", f"{placed},{market},1179500000000000000")])
        take(api + "trade/order/{ids}", "DELETE", "trade/order/abc", signed=[("system_oid", "abc")])
        take(api + "trade/order", "DELETE", "trade/order", {"system_oid": second})
        take(api + "trade/order", "DELETE", "trade/order", {"system_oid": ",".join([second] * 16)})
        take(api + "trade/order", "DELETE", "trade/order", {"system_oid": second}, sign_value="2" * 64)

        # issue 13: batches, cancel all, the dead-man's switch
        take(api + "trade/batch_input", "POST", "trade/batch_input",
             {"orders": [{**order, "entrust_price": "60", "client_oid": "b1"}, {**order, "entrust_price": "x"}]})
        take(api + "trade/batch_input", "POST", "trade/batch_input", {"orders": []})  # 40004
        take(api + "trade/batch_order", "DELETE", "trade/batch_order", {"system_oid": f"{second},1179500000000000000"})
        take(api + "trade/batch_order", "DELETE", "trade/batch_order", {"system_oid": "abc"})  # 40006
        take(api + "trade/cancel_all", "POST", "trade/cancel_all", {"exchange": X, "entrust_bs": "buy"})
        take(api + "trade/cancel_all", "POST", "trade/cancel_all", {"entrust_bs": "up"})  # 40006
        take(api + "trade/cancel_all_after", "POST", "trade/cancel_all_after", {"timeout_ms": "0"})
        take(api + "trade/cancel_all_after", "POST", "trade/cancel_all_after", {"timeout_ms": "5"})  # 40006
        amendable = demo.place(**{**order, "entrust_price": "61", "client_oid": "am"})["system_oid"]
        take(api + "trade/amend", "POST", "trade/amend", {"system_oid": amendable, "entrust_price": "62"})
        take(api + "trade/amend", "POST", "trade/amend", {"system_oid": amendable})  # 40004

        # market data: public, bare objects (a trade happened at 100 above)
        demo.place(**{**order, "entrust_price": "50", "client_oid": "depth"})  # a resting bid
        q = {"exchange": X, "contract": C}
        for name, post in (("trade", "trade/data"), ("depth10", "depth10/data"), ("tick", "tick/data")):
            take_raw(api + f"market/{name}", "GET", f"market/{name}", query="exchange=TEST&contract=BTC%2FUSDT")
            take_raw(api + f"query/{post}", "POST", f"query/{post}", body=json.dumps(q).encode())
            take_raw(api + f"market/{name}", "GET", f"market/{name}", query="exchange=TEST")  # 400
            take_raw(api + f"query/{post}", "POST", f"query/{post}", body=b'{"contract":"NOPE"}')  # 400
        take_raw(api + "market/candle", "GET", "market/candle",
                 query="exchange=TEST&contract=BTC%2FUSDT&duration=1m&size=5")
        take_raw(api + "market/candle", "GET", "market/candle", query="exchange=TEST&contract=BTC%2FUSDT")  # 400
        take_raw(api + "query/cycle/data/history", "POST", "query/cycle/data/history",
                 body=json.dumps({**q, "duration": "1m", "begin": 0, "end": 2**41}).encode())
        take_raw(api + "query/cycle/data/history", "POST", "query/cycle/data/history",
                 body=json.dumps({**q, "duration": "2m"}).encode())  # 400
        take_raw(api + "market/trade", "GET", "market/trade", query="exchange=TEST&contract=ADA_BTC&size=0")  # 400

        take_raw("/health", "GET", "/health")
        status, text = demo.raw("GET", "/metrics")
        out.append(("/metrics", "GET", status, text))
        status, body = demo.raw("GET", "/api/v1/unknown")
        out.append(("<unknown>", "GET", status, body))
    finally:
        proc.stop()
    return out


def test_captured_responses_validate(captured):
    assert {status for _, _, status, _ in captured} == {200, 400, 401, 404, 413}
    market = [(p, b) for p, _, st, b in captured if st == 200 and ("/market/" in p or "/query/" in p)]
    assert any(b.get("detail") for _, b in market)  # non-empty trades and candles were seen
    assert any(b.get("asks") or b.get("bids") for _, b in market)
    codes = {body["code"] for _, _, _, body in captured if isinstance(body, dict) and "code" in body}
    assert codes >= {"200", "40001", "40004", "40005", "40006", "40008", "40012", "40013", "40015", "40020",
                     "40101", "40102", "40103", "40401", "40403", "404"}, codes
    seen: dict[tuple[str, str], set] = {}
    for path, method, status, body in captured:
        if path == "<unknown>":
            assert status == 404
            validator(pointer("components", "responses", "NotFound", "content", "application/json",
                              "schema")).validate(body)
            continue
        if path == "/metrics":
            assert status == 200 and isinstance(body, str) and body
            validator(response_schema_ptr(path, method, status, "text/plain")).validate(body)
            continue
        try:
            validator(response_schema_ptr(path, method, status)).validate(body)
        except ValidationError as exc:
            raise AssertionError(f"{method} {path} HTTP {status}: {exc.message}\n{json.dumps(body)[:500]}") from None
        kind = "ok" if status == 200 and (not isinstance(body, dict) or body.get("code", "200") == "200") else "error"
        if status == 200 and isinstance(body, dict) and "/api/v1/trade" not in path and "/basic/" not in path:
            assert "code" not in body  # bare objects: a `code` key would read as an error to the SDK
        seen.setdefault((path, method), set()).add(kind)
    documented = {(p, m.upper()) for p, item in DOC["paths"].items() for m in item if m != "parameters"}
    for key in documented - {("/metrics", "GET")}:
        expected = {"ok"} if key == ("/health", "GET") else {"ok", "error"}
        if key == ("/api/v1/trade/close", "POST"):
            expected = {"error"}  # contracts are not enabled: every close on spot is an error
        assert seen.get(key, set()) >= expected, (key, seen.get(key))


def test_captured_success_bodies_are_not_error_shaped(captured):
    """A success matches its success schema (not only the error branch of oneOf)."""
    names = {"/api/v1/basic/contracts": "PairsEnvelope", "/api/v1/trade/account": "AccountEnvelope",
             "/api/v1/trade/open_orders": "OpenOrdersEnvelope", "/api/v1/trade/input": "PlaceEnvelope",
             "/api/v1/trade/position": "PositionsEnvelope", "/api/v1/trade/trans": "FillsEnvelope",
             "/api/v1/trade/order/{ids}": "CancelEnvelope"}
    checked = 0
    for path, method, status, body in captured:
        if status != 200 or not isinstance(body, dict) or body.get("code") != "200":
            continue
        name = names.get(path)
        if path == "/api/v1/trade/order":
            name = "OrdersEnvelope" if method == "GET" else "CancelEnvelope"
        if name is None:
            continue
        validator(pointer("components", "schemas", name)).validate(body)
        # and one extra key anywhere in data fails
        mutated = copy.deepcopy(body)
        data = mutated["data"]
        target = data[0] if isinstance(data, list) and data else data if isinstance(data, dict) else None
        if isinstance(target, dict):
            target["unexpected"] = "x"
            with pytest.raises(ValidationError):
                validator(pointer("components", "schemas", name)).validate(mutated)
        checked += 1
    assert checked >= 10
