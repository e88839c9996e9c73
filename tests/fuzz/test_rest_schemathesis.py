"""schemathesis against ``docs/openapi.yaml`` and a real server, every REST operation
(trading, market data, ``/health``, ``/metrics``): the examples, coverage and fuzzing
phases, positive and negative data, signed with the demo key (``rest_schema.Signer``).

Each generated request must get: no 5xx, a documented status with a documented content
type and a body valid against the document, a rejection when it violates the schema,
no malformed-input refusal when it fits (``rest_schema.CHECKS``). Generation is
derandomized with a fixed seed (``budget.SEED``), so a run is reproducible. After the
run, the server still answers a plain request and its log holds no traceback.
"""

from __future__ import annotations

import requests

from ceres.config import load_config
from tests.fuzz import budget
from tests.fuzz.rest_schema import CHECKS, Signer, envelope_code, load_schema

INSTRUMENTS = [(i.exchange, i.contract, i.is_contract) for i in load_config().build_instruments()]
schema = load_schema(INSTRUMENTS, examples=budget.cases(15), seed=budget.SEED)
SESSION = requests.Session()


@schema.parametrize()
def test_rest_operation(case, fuzz_server):
    demo = fuzz_server.demo()
    response = case.call(base_url=fuzz_server.http_url, session=SESSION, auth=Signer(demo["api_key"], demo["secret"]),
                         timeout=10)
    assert envelope_code(response) != "40103", "the signing hook and the server disagree"  # auth would hide all
    case.validate_response(response, checks=CHECKS)
    budget.count("rest_schemathesis", cases=1)


def test_every_documented_operation_is_fuzzed():
    """Every path and method of the document loads as an operation (a schema error would
    silently drop it from the parametrized test above)."""
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {(m.upper(), p) for p, item in schema.raw_schema["paths"].items() for m in item}
    assert {(op.method.upper(), op.path) for op in operations} == documented
    assert len(documented) == 26


def test_server_is_fine_after_the_fuzzing(fuzz_server):
    """Runs after the operations above (same module): the server answers, logged no
    traceback and counted no internal error."""
    assert fuzz_server.rest().call("GET", "basic/contracts", exchange="TEST")["code"] == "200"
    assert "Traceback" not in fuzz_server.logs()
    metrics = requests.get(fuzz_server.http_url + "/metrics", timeout=10).text
    assert "ceres_internal_errors_total{" not in metrics
