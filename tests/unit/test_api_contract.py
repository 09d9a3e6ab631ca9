"""docs/openapi.yaml is the contract: generated from the routes and models, committed, and checked here
(every route documented and nothing else; responses of the in-process API validate against it)."""

import yaml
from jsonschema_rs import Draft202012Validator

from shared.api import openapi
from shared.api.routes import ROUTES, URL_MAP
from tests.unit.test_api import World, transfer


def committed() -> dict:
    return yaml.safe_load(openapi.PATH.read_text())


def test_committed_document_is_the_generated_one():
    assert committed() == openapi.document(), (
        "run `.venv/bin/python -m shared.api.openapi` and commit docs/openapi.yaml"
    )


def test_every_route_is_documented_and_vice_versa():
    served = {(openapi.openapi_path(r.rule), m.lower()) for r in URL_MAP.iter_rules() for m in r.methods - {"HEAD"}}
    documented = {(path, method) for path, ops in committed()["paths"].items() for method in ops}
    assert served == documented
    assert committed()["openapi"].startswith("3.1")


def _validator(status: int, path: str, method: str):
    doc = committed()
    response = doc["paths"][path][method]["responses"][str(status)]
    schema = {**response["content"]["application/json"]["schema"], "components": doc["components"]}
    return Draft202012Validator(schema)


def test_in_process_responses_conform_to_the_document():
    w = World()
    w.fund("cus_a", 1000)
    t = w.post("/v1/transfers", transfer(100)).json
    h = w.post("/v1/holds", transfer(100)).json
    cases = [
        ("/v1/accounts/{id}", "get", w.get("/v1/accounts/cus_a")),
        ("/v1/accounts/{id}/balance", "get", w.get("/v1/accounts/cus_a/balance")),
        ("/v1/accounts/{id}/entries", "get", w.get("/v1/accounts/cus_a/entries")),
        ("/v1/transactions/{id}", "get", w.get(f"/v1/transactions/{t['id']}")),
        ("/v1/holds/{id}", "get", w.get(f"/v1/holds/{h['id']}")),
        ("/v1/holds/{id}/capture", "post", w.post(f"/v1/holds/{h['id']}/capture", {"amount": 1})),
        ("/v1/transfers", "post", w.post("/v1/transfers", transfer(10**9))),
        ("/v1/transfers", "post", w.post("/v1/transfers", {"amount": "1"})),
        ("/v1/accounts/{id}", "get", w.get("/v1/accounts/cus_g")),
        ("/v1/dead-letters", "get", w.get("/v1/dead-letters", key=w.operator)),
        ("/v1/reconciliation/runs", "get", w.get("/v1/reconciliation/runs", key=w.operator)),
        ("/v1/reconciliation/breaks", "get", w.get("/v1/reconciliation/breaks", key=w.operator)),
    ]
    for path, method, resp in cases:
        errors = list(_validator(resp.status_code, path, method).iter_errors(resp.json))
        assert not errors, (path, resp.status_code, resp.json, [str(e) for e in errors])
    assert {r.operation_id for r in ROUTES} >= {"createTransfer", "createHold", "captureHold", "voidHold"}


def test_a_path_the_framework_cannot_route_is_our_json_404():
    """A newline in a path is refused by functions-framework's own catch-all route before ours runs:
    the function answers it with the API's JSON 404, never Flask's HTML page (schemathesis found it)."""
    from functions_framework import create_app

    from shared.config import REPO_ROOT

    client = create_app("api", str(REPO_ROOT / "functions" / "api" / "main.py"), "http").test_client()
    resp = client.get("/v1/operator/breaks/%F3%87%A2%AE%0A")
    assert resp.status_code == 404 and resp.content_type == "application/json"
    assert resp.json["error"]["code"] == "route_not_found"
