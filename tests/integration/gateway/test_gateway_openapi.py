# SPDX-License-Identifier: Apache-2.0
"""docs/openapi.yaml against the running gateway: the same operations on both sides, and the
documented status codes and response schemas for a happy and an error case of each."""

import re

import jsonschema
import yaml

from conftest import ROOT
from gw_helpers import gateway, gw_prefix, submission_body, tenants  # noqa: F401

OPENAPI = ROOT / "docs" / "openapi.yaml"
ROUTES_C = ROOT / "services" / "gateway" / "gateway_route.c"


def doc():
    return yaml.safe_load(OPENAPI.read_text())


def served_routes():
    """(METHOD, pattern) rows of gw_routes in the C source."""
    text = ROUTES_C.read_text()
    return {(m, p) for m, p in re.findall(r'\{"(GET|POST|DELETE)", "(/v1/[^"]*)"', text)}


def norm(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


def validate(d, schema, instance):
    resolver = jsonschema.RefResolver.from_schema(d)
    jsonschema.Draft202012Validator(schema, resolver=resolver).validate(instance)


def response_schema(d, path, method, status, ctype):
    resp = d["paths"][path][method]["responses"][str(status)]
    if "$ref" in resp:
        resp = d["components"]["responses"][resp["$ref"].split("/")[-1]]
    return resp.get("content", {}).get(ctype, {}).get("schema")


def test_openapi_is_3_1_and_names_exactly_the_served_operations():
    d = doc()
    assert d["openapi"].startswith("3.1.")
    documented = {(m.upper(), norm(p)) for p, ops in d["paths"].items() for m in ops
                  if m in ("get", "post", "delete") and not p.startswith("/v1/public/")}
    served = {(m, p) for m, p in served_routes() if not p.startswith("/v1/public/")}
    assert documented == served
    for p, ops in d["paths"].items():
        for m, op in ops.items():
            if m not in ("get", "post", "delete"):
                continue
            codes = set(op["responses"])
            if not p.startswith("/v1/public/"):
                assert {"401", "429"} <= codes, (m, p)
            for param in re.findall(r"\{([^}]+)\}", p):
                names = [x.get("name") for x in op.get("parameters", []) + ops.get("parameters", [])
                         if "name" in x] + \
                        [d["components"]["parameters"][x["$ref"].split("/")[-1]]["name"]
                         for x in op.get("parameters", []) if "$ref" in x]
                assert param in names, (m, p, param)


def fill(path):
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)


def test_every_documented_operation_answers_its_documented_codes(gateway, tenants):
    d = doc()
    for path, ops in d["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "delete"):
                continue
            st, h, body = gateway.request(method.upper(), fill(path))
            assert str(st) in op["responses"], (method, path, st)
            if path.startswith("/v1/public/"):
                assert st == 307
                assert h["location"] == "https://issuer.example.org" + fill(path)[len("/v1/public"):]
            else:
                assert st == 401
                validate(d, d["components"]["schemas"]["Problem"], body)


def test_happy_and_error_answers_match_the_documented_schemas(gateway, tenants):
    d = doc()
    kd = tenants.keys[(tenants.a, "district")]
    ka = tenants.keys[(tenants.a, "assessor")]
    cases = [
        ("post", "/v1/submissions", kd, submission_body("oa-1"), 202),
        ("post", "/v1/submissions", kd, submission_body("oa-2", credential_id="cl.nope"), 422),
        ("get", "/v1/submissions", kd, None, 200),
        ("get", "/v1/submissions/{submission_id}", kd, None, 200),
        ("get", "/v1/submissions/{submission_id}", kd, None, 404),
        ("get", "/v1/assignments", ka, None, 200),
        ("get", "/v1/assignments/{assignment_id}", ka, None, 404),
        ("get", "/v1/stacks", ka, None, 200),
        ("get", "/v1/stacks/{stack_id}", ka, None, 200),
        ("get", "/v1/credentials/{credential_id}", ka, None, 200),
        ("get", "/v1/credentials/{credential_id}", ka, None, 404),
    ]
    ids = {"submission_id": {200: "oa-1", 404: "nope"}, "stack_id": {200: "collective-leadership"},
           "credential_id": {200: "cl.cultivating-a-shared-purpose", 404: "cl.nope"},
           "assignment_id": {404: "00000000-0000-4000-8000-000000000000"}}
    for method, path, key, body, want in cases:
        url = re.sub(r"\{([^}]+)\}", lambda m: ids[m.group(1)][want], path)
        st, h, resp = gateway.request(method.upper(), url, body, key=key)
        assert st == want, (method, url, st, resp)
        assert str(st) in d["paths"][path][method]["responses"], (method, path, st)
        ctype = h["content-type"]
        schema = response_schema(d, path, method, st, ctype)
        assert schema is not None, (method, path, st, ctype)
        validate(d, schema, resp)
