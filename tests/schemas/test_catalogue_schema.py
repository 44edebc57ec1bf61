# SPDX-License-Identifier: Apache-2.0
"""The catalogue contract: schemas/catalogue.schema.json against the shipped catalogue and the bad files.

Run: /usr/bin/python3 -m pytest tests/schemas/test_catalogue_schema.py
Needs python3-jsonschema (>= 4.10, draft 2020-12) and python3-pytest; no network.

An independent check of what the C loader (common/src/catalogue.c) enforces: the JSON
Schema for the shape of a file, plus `rule_errors` below for the cross-field rules JSON
Schema cannot say. Every shipped file passes both; every file of
tests/data/catalogue-bad/ is refused at the layer its manifest (expected.tsv) names, which
is the same manifest the C unit test (tests/unit/test_catalogue.c) reads.
"""
from __future__ import annotations

import json
import pathlib

import jsonschema
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "schemas" / "catalogue.schema.json"
CATALOGUE = REPO / "config" / "catalogue"
BAD = REPO / "tests" / "data" / "catalogue-bad"
SHIPPED = sorted(CATALOGUE.glob("*.json"))


class DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise DuplicateKey(f"duplicate object key {k!r}")
        out[k] = v
    return out


def load(path: pathlib.Path):
    """Parse like the loader does: duplicate keys are an error."""
    with open(path, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=_no_duplicates)


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(validator, doc) -> list[str]:
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
            for e in validator.iter_errors(doc)]


def _dups(ids) -> list[str]:
    seen, dup = set(), []
    for i in ids:
        if i in seen:
            dup.append(i)
        seen.add(i)
    return dup


def _rubric_errors(where: str, rubric: dict) -> list[str]:
    errs = []
    criteria = rubric.get("criteria", [])
    ids = [k.get("id") for k in criteria]
    errs += [f"{where}.rubric: criterion {d!r} twice" for d in _dups(ids)]
    for i, k in enumerate(criteria):
        levels = k.get("levels", [])
        lids = [lv.get("id") for lv in levels]
        errs += [f"{where}.rubric.criteria[{i}]: level {d!r} twice" for d in _dups(lids)]
        ranks = [lv.get("rank") for lv in levels]
        if any(b <= a for a, b in zip(ranks, ranks[1:])):
            errs.append(f"{where}.rubric.criteria[{i}]: ranks not strictly increasing: {ranks}")
        if k.get("passing_level") not in lids:
            errs.append(f"{where}.rubric.criteria[{i}].passing_level: not a level")
    rule = rubric.get("passing_rule", {"type": "conjunctive"})
    if rule.get("type") == "minimum_count":
        required = rule.get("required", [])
        if rule.get("count", 0) > len(criteria):
            errs.append(f"{where}.rubric.passing_rule.count: more than the criteria")
        if rule.get("count", 0) < len(required):
            errs.append(f"{where}.rubric.passing_rule.count: less than the required criteria")
        errs += [f"{where}.rubric.passing_rule.required: {r!r} is not a criterion"
                 for r in required if r not in ids]
    return errs


def rule_errors(doc: dict, file_name: str | None) -> list[str]:
    """The loader's cross-field rules for one file (empty when it keeps them)."""
    errs = []
    if file_name is not None and f"{doc.get('id')}.json" != file_name:
        errs.append(f"id: {doc.get('id')!r} does not match the file name {file_name}")
    creds = doc.get("credentials", [])
    errs += [f"credentials: {d!r} twice" for d in _dups(c.get("id") for c in creds)]
    for i, c in enumerate(creds):
        where = f"credentials[{i}]"
        evidence = c.get("evidence", [])
        errs += [f"{where}.evidence: {d!r} twice" for d in _dups(e.get("id") for e in evidence)]
        errs += [f"{where}.evidence[{j}]: min_items > max_items"
                 for j, e in enumerate(evidence) if e.get("min_items", 0) > e.get("max_items", 0)]
        errs += _rubric_errors(where, c.get("rubric", {}))
    return errs


def catalogue_errors(docs: list[dict]) -> list[str]:
    """Ids unique across files."""
    stacks = [d["id"] for d in docs]
    creds = [c["id"] for d in docs for c in d["credentials"]]
    return ([f"stack {d!r} defined twice" for d in _dups(stacks)] +
            [f"credential {d!r} defined twice" for d in _dups(creds)])


def bad_cases():
    rows = []
    for line in (BAD / "expected.tsv").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        name, layer, fragment = line.split("\t")
        rows.append(pytest.param(name, layer, fragment, id=name))
    return rows


# ---- the schema and the shipped catalogue -------------------------------------------------

def test_schema_is_draft_2020_12():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_catalogue_has_the_seed_stacks():
    names = {load(p)["name"] for p in SHIPPED}
    assert names == {"Collective Leadership", "Virtual Community Organizing",
                     "Going Public with Policy & Pedagogy", "Leading Professional Learning",
                     "Personalized Learning"}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_file_is_valid(validator, path):
    doc = load(path)
    assert schema_errors(validator, doc) == []
    assert rule_errors(doc, path.name) == []


def test_shipped_ids_unique_across_files():
    assert catalogue_errors([load(p) for p in SHIPPED]) == []


def test_shipped_credentials_are_complete():
    """What the services rely on, spelled out in every shipped credential."""
    for p in SHIPPED:
        for c in load(p)["credentials"]:
            for key in ("assessors_required", "attempts_allowed", "turnaround_days",
                        "continuity_on_resubmission", "disagreement_threshold"):
                assert key in c, f"{p.name}: {c['id']}: {key}"
            assert c["id"].split(".")[0] in {"cl", "vco", "gp", "lpl", "pl"}
            assert any(e["min_items"] > 0 for e in c["evidence"]), c["id"]


# ---- the bad files ----------------------------------------------------------------------

def test_every_bad_file_is_in_the_manifest():
    listed = {p.values[0] for p in bad_cases()}
    present = {str(p.relative_to(BAD)) for p in BAD.rglob("*.json")}
    assert present == listed


@pytest.mark.parametrize("name,layer,fragment", bad_cases())
def test_bad_file_is_refused(validator, name, layer, fragment):
    path = BAD / name
    if layer == "syntax":
        try:
            doc = load(path)
        except (ValueError, DuplicateKey):
            return
        assert not isinstance(doc, dict), f"{name} parsed as an object"
        return
    doc = load(path)
    errors = schema_errors(validator, doc)
    if layer == "schema":
        assert errors, f"{name}: the schema accepts it"
        return
    # rules and catalogue cases are valid JSON Schema: the manifest says which check refuses them
    assert errors == [], f"{name}: expected only the {layer} check to refuse it: {errors}"
    rules = rule_errors(doc, path.name)
    if layer == "rules":
        assert rules, f"{name}: the cross-field rules accept it"
        return
    assert layer == "catalogue", f"{name}: unknown layer {layer}"
    assert rules == [], f"{name}: {rules}"
    others = [load(p) for p in SHIPPED]
    assert catalogue_errors(others) == []
    assert catalogue_errors(others + [doc]), f"{name}: accepted beside the shipped catalogue"
