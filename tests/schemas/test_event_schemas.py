"""The event contracts: schemas/events/ against docs/architecture.md and the examples.

Run: /usr/bin/python3 -m pytest tests/schemas
Needs python3-jsonschema (>= 4.10, draft 2020-12) and python3-pytest; no network.
"""
from __future__ import annotations

import json
import pathlib
import re
import sys
import urllib.parse

import jsonschema
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bfschema  # noqa: E402

SCHEMAS = bfschema.SCHEMA_DIR
EXAMPLES = SCHEMAS / "examples"
INVALID = SCHEMAS / "invalid"
EVENTS_MD = bfschema.REPO / "docs" / "events.md"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

EXAMPLE_NAME = re.compile(r"^(?P<type>[a-z_]+(?:\.[a-z_]+)+\.v[0-9]+)(?:\.(?P<variant>[a-z0-9_-]+))?\.json$")
INVALID_NAME = re.compile(r"^(?P<type>[a-z_]+(?:\.[a-z_]+)+\.v[0-9]+)\.(?P<what>[a-z0-9-]+)\.json$")

# what an invalid example's name promises -> the keywords allowed to refuse it
FAULT_KEYWORDS = {
    "missing-": {"required", "dependentRequired", "minItems"},
    "wrong-type-": {"type"},
    "bad-enum-": {"enum", "const"},
    "bad-format-": {"format", "pattern"},
    "bad-pattern-": {"pattern"},
    "extra-": {"additionalProperties", "unevaluatedProperties"},
    "too-many-": {"maxItems"},
    "too-long-": {"maxLength"},
    "out-of-range-": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "inconsistent-": None,  # any keyword: a rule between fields
}

# docs/architecture.md's key column -> bfschema's key rule
KEY_TEXT = {
    "submission id": "submission_id",
    "submission id (stack: educator id)": "submission_id_or_educator_id",
    "tenant id": "tenant_id",
    "educator pseudonym": "educator_pseudonym",
    "pilot id (compacted)": "pilot_id",
}


def load(p: pathlib.Path):
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def architecture_types() -> list[str]:
    return sorted(t for _, types in bfschema.architecture_topics().values() for t in types)


SCHEMA_FILES = bfschema.schema_files()
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))
INVALID_FILES = sorted(INVALID.glob("*.json"))


def ids(paths):
    return [p.name for p in paths]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every $ref must resolve from the files: fetching anything is a failure."""
    def refuse(*a, **k):
        raise AssertionError("network access attempted: %r" % (a,))
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    try:
        import referencing  # noqa: F401  (jsonschema >= 4.18: no remote retrieval by default)
    except ImportError:
        monkeypatch.setattr(jsonschema.RefResolver, "resolve_remote", refuse)


# ---------------------------------------------------------------- the table
def test_topics_table_parsed():
    topics = bfschema.architecture_topics()
    assert len(topics) >= 11, topics
    assert sum(len(t) for _, t in topics.values()) >= 22


def test_every_event_type_in_the_table_has_a_schema_and_an_example():
    table = architecture_types()
    assert len(table) == len(set(table)), "an event type is listed twice"
    for t in table:
        assert (SCHEMAS / (t + ".schema.json")).is_file(), "no schema for " + t
        assert (EXAMPLES / (t + ".json")).is_file(), "no example for " + t
    assert bfschema.event_types() == table, "schemas for types the table does not list"


def test_bfschema_topics_match_the_table():
    table = bfschema.architecture_topics()
    assert set(table) == set(bfschema.TOPICS)
    for topic, (key_text, types) in table.items():
        rule, btypes = bfschema.TOPICS[topic]
        assert tuple(types) == tuple(btypes), topic
        assert KEY_TEXT.get(key_text) == rule, "%s: key %r" % (topic, key_text)


# ---------------------------------------------------------------- the schemas
@pytest.mark.parametrize("path", SCHEMA_FILES, ids=ids(SCHEMA_FILES))
def test_schema_is_valid_draft_2020_12(path):
    s = load(path)
    assert s.get("$schema") == DRAFT
    jsonschema.Draft202012Validator.check_schema(s)
    assert s["$id"] == bfschema.BASE_URI + path.name
    assert s.get("title") and s.get("description")
    if path.name != "common.schema.json":
        assert s["type"] == "object"
        assert "tenant_id" in s["required"], "every data object carries tenant_id"
        assert "org.badgeflow." + path.name[:-len(".schema.json")] in s["description"]


def subschemas(node, where="#"):
    """Every subschema of a schema document, with its JSON pointer."""
    if not isinstance(node, dict):
        return
    yield where, node
    for kw in ("properties", "$defs", "dependentSchemas", "patternProperties"):
        for name, sub in node.get(kw, {}).items():
            yield from subschemas(sub, "%s/%s/%s" % (where, kw, name))
    for kw in ("items", "additionalProperties", "not", "if", "then", "else", "propertyNames",
               "contains", "unevaluatedProperties", "unevaluatedItems"):
        if isinstance(node.get(kw), dict):
            yield from subschemas(node[kw], "%s/%s" % (where, kw))
    for kw in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for i, sub in enumerate(node.get(kw, [])):
            yield from subschemas(sub, "%s/%s/%d" % (where, kw, i))


def types_of(s):
    t = s.get("type", [])
    return set([t] if isinstance(t, str) else t)


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=ids(SCHEMA_FILES))
def test_schema_is_closed_and_bounded(path):
    """additionalProperties false at every object level (bar declared extension points and
    bounded maps), explicit `required`, bounded strings and arrays."""
    faults = []
    for where, s in subschemas(load(path)):
        t = types_of(s)
        if "object" in t:
            ap = s.get("additionalProperties")
            desc = s.get("description", "").lower()
            if ap is False:
                pass
            elif ap is True and "extension point" in desc:
                pass
            elif isinstance(ap, dict) and "propertyNames" in s and "maxProperties" in s:
                pass  # a bounded map
            else:
                faults.append("%s: additionalProperties is %r" % (where, ap))
            if "properties" in s and "required" not in s:
                faults.append("%s: no explicit required" % where)
            for r in s.get("required", []):
                if r not in s.get("properties", {}):
                    faults.append("%s: required %r is not a property" % (where, r))
        if "string" in t and not ({"maxLength", "enum", "const"} & set(s)):
            faults.append("%s: unbounded string" % where)
        if "array" in t and "maxItems" not in s:
            faults.append("%s: unbounded array" % where)
    assert not faults, "\n".join(faults)


def all_refs(node, where="#"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield where, v
            elif k not in ("const", "enum", "examples", "default"):
                yield from all_refs(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from all_refs(v, "%s/%d" % (where, i))


def pointer(doc, frag):
    for part in frag.lstrip("/").split("/") if frag else []:
        part = part.replace("~1", "/").replace("~0", "~")
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=ids(SCHEMA_FILES))
def test_refs_are_relative_and_resolve_locally(path):
    s = load(path)
    store = bfschema.load_schemas()
    refs = list(all_refs(s))
    if path.name != "common.schema.json":
        assert refs, "an event schema shares the common definitions"
    for where, ref in refs:
        assert "://" not in ref, "%s: absolute $ref %s" % (where, ref)
        url, frag = urllib.parse.urldefrag(urllib.parse.urljoin(s["$id"], ref))
        assert url in store, "%s: %s names no schema file" % (where, ref)
        target = pointer(store[url], frag)
        assert isinstance(target, dict), "%s: %s" % (where, ref)
    # and the validator resolves them too (no network: see the no_network fixture)
    if path.name != "common.schema.json":
        v = bfschema.validator_for(path.name[:-len(".schema.json")])
        list(v.iter_errors({}))


def test_common_definitions_are_all_used():
    common = bfschema.load_schemas()[bfschema.BASE_URI + "common.schema.json"]
    used = set()
    for s in bfschema.load_schemas().values():
        for _, ref in all_refs(s):
            if "#/$defs/" in ref:
                used.add(ref.split("#/$defs/")[1])
    assert set(common["$defs"]) - used == set()


# ---------------------------------------------------------------- examples
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=ids(EXAMPLE_FILES))
def test_example_is_valid(path):
    m = EXAMPLE_NAME.match(path.name)
    assert m, "example file name %s is not <type>[.<variant>].json" % path.name
    errors = bfschema.event_errors(m["type"], load(path))
    assert not errors, "\n".join(errors)


def all_errors(errors):
    for e in errors:
        yield e
        yield from all_errors(e.context or [])


@pytest.mark.parametrize("path", INVALID_FILES, ids=ids(INVALID_FILES))
def test_invalid_example_is_refused_for_the_named_reason(path):
    m = INVALID_NAME.match(path.name)
    assert m, "invalid file name %s is not <type>.<what-is-wrong>.json" % path.name
    prefix = [p for p in FAULT_KEYWORDS if m["what"].startswith(p)]
    assert prefix, "%s: <what-is-wrong> starts with none of %s" % (path.name, list(FAULT_KEYWORDS))
    errors = list(bfschema.validator_for(m["type"]).iter_errors(load(path)))
    assert errors, "%s is accepted by its schema" % path.name
    allowed = FAULT_KEYWORDS[prefix[0]]
    if allowed is not None:
        seen = {e.validator for e in all_errors(errors)}
        assert seen & allowed, "%s: refused by %s, expected one of %s" % (path.name, seen, allowed)
    with pytest.raises(bfschema.EventError):
        bfschema.validate_event("org.badgeflow." + m["type"], load(path))


def test_every_event_type_has_an_invalid_example():
    have = {INVALID_NAME.match(p.name)["type"] for p in INVALID_FILES}
    assert set(architecture_types()) - have == set()


def test_invalid_examples_are_listed_in_the_readme():
    readme = (INVALID / "README.md").read_text(encoding="utf-8")
    for p in INVALID_FILES:
        assert "(%s)" % p.name in readme, p.name


# ---------------------------------------------------------------- formats
FORMATS = {
    "date-time": (["2026-11-23T15:58:03Z", "2026-11-23T15:58:03.123456+01:00", "2016-12-31T23:59:60Z",
                   "2026-11-23t15:58:03z"],
                  ["2026-11-23", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-23 15:58:03Z",
                   "2026-11-23T15:58:03", "2026-11-23T24:00:00Z", "2026-11-23T15:58:03+25:00", "yesterday"]),
    "date": (["2026-09-01", "2028-02-29"], ["2026-02-30", "2026-9-1", "20260901", "2026-09-01T00:00:00Z"]),
    "uri": (["https://badges.example.org/c/1?x=1#f", "file:///srv/uploads/a.mp4", "urn:uuid:e4b7d2c9",
             "http://adlnet.gov/expapi/verbs/failed"],
            ["failed", "https://x.example.org/a b", "/relative/path", "https://x.example.org/%zz", "1http://x"]),
    "uuid": (["e4b7d2c9-1a3f-4e5b-8c7d-6f0a9b8c7d21"], ["e4b7d2c91a3f4e5b8c7d6f0a9b8c7d21", "cred-1", ""]),
    "email": (["maya.thompson@example.org", "a+b@sub.example.org"],
              ["maya.thompson.example.org", "a@b", "a b@example.org", "@example.org"]),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_format_checker_enforces(fmt):
    fc = bfschema.format_checker()
    good, bad = FORMATS[fmt]
    for g in good:
        assert fc.conforms(g, fmt), "%s should be a valid %s" % (g, fmt)
    for b in bad:
        assert not fc.conforms(b, fmt), "%s should not be a valid %s" % (b, fmt)


def test_format_is_asserted_not_just_annotated():
    """A bad date-time is refused only because formats are checked: without the
    FormatChecker the same document passes."""
    t = "submission.submitted.v1"
    data = load(INVALID / (t + ".bad-format-submitted-at.json"))
    assert not list(bfschema.validator_for(t, formats=False).iter_errors(data))
    errs = list(bfschema.validator_for(t).iter_errors(data))
    assert [e.validator for e in errs] == ["format"]


# ---------------------------------------------------------------- the module
def test_validate_event_api():
    data = load(EXAMPLES / "decision.made.v1.json")
    assert bfschema.validate_event("org.badgeflow.decision.made.v1", data) is None
    assert bfschema.validate_event("decision.made.v1", data) is None
    del data["rule"]
    data["criteria"][1]["level_id"] = "not a level"
    with pytest.raises(bfschema.EventError) as e:
        bfschema.validate_event("org.badgeflow.decision.made.v1", data)
    assert "criteria[1].level_id" in str(e.value)
    assert any("'rule' is a required property" in m for m in e.value.errors)
    with pytest.raises(bfschema.UnknownEventType):
        bfschema.validate_event("org.badgeflow.submission.teleported.v1", {})
    with pytest.raises(bfschema.UnknownEventType):
        bfschema.validate_event("common", {})


def record(t, data, **over):
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"2b0f6f0e-8f7c-4f55-9d1e-3c8b7a6d5e4f"),
               ("ce_source", b"/badgeflow/test"), ("ce_type", ("org.badgeflow." + t).encode()),
               ("ce_time", b"2026-11-23T16:05:00.123Z"), ("ce_subject", b"subject"),
               ("content-type", b"application/json"),
               ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    h = dict(headers)
    for k, v in over.items():
        k = k.replace("_dash_", "-")
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v.encode()
    return list(h.items()), json.dumps(data).encode()


@pytest.mark.parametrize("topic", sorted(bfschema.TOPICS))
def test_validate_record_on_every_topic(topic):
    for t in bfschema.TOPICS[topic][1]:
        data = load(EXAMPLES / (t + ".json"))
        headers, value = record(t, data)
        key = bfschema.record_key(topic, data)
        assert bfschema.validate_record("badgeflow." + topic, key.encode(), headers, value) == data


def test_validate_record_refuses():
    t = "credential.issued.v1"
    stack = load(EXAMPLES / (t + ".stack.json"))
    headers, value = record(t, stack)
    assert bfschema.validate_record("badgeflow.credentials", stack["educator_id"], headers, value)
    with pytest.raises(bfschema.EventError, match="key"):
        bfschema.validate_record("badgeflow.credentials", "wcpss-sub-2026-000481", headers, value)
    with pytest.raises(bfschema.EventError, match="not allowed on decisions"):
        bfschema.validate_record("badgeflow.decisions", stack["educator_id"], headers, value)
    h2, _ = record(t, stack, ce_id="not-a-uuid", traceparent=None, ce_time="2026-11-23T17:05:00+01:00")
    with pytest.raises(bfschema.EventError) as e:
        bfschema.validate_record("badgeflow.credentials", stack["educator_id"], h2, value)
    msg = str(e.value)
    assert "ce_id" in msg and "traceparent" in msg and "ce_time" in msg
    with pytest.raises(bfschema.EventError, match="not JSON"):
        bfschema.validate_record("badgeflow.credentials", stack["educator_id"], headers, b"{oops")
    bad = dict(stack, kind="badge")
    with pytest.raises(bfschema.EventError, match="kind"):
        bfschema.validate_record("badgeflow.credentials", stack["educator_id"], headers, json.dumps(bad))


def test_validate_dlq_record():
    good = {"ce_id": "x", "dlq_reason": "data.evidence[0].uri: must be https", "dlq_topic": "badgeflow.submissions",
            "dlq_partition": "3", "dlq_offset": "1187", "dlq_consumer": "badgeflow-transcoder",
            "dlq_time": "2026-11-23T16:05:00.123Z"}
    assert bfschema.validate_dlq_record(good, "badgeflow.submissions")["dlq_offset"] == "1187"
    for name in bfschema.DLQ_HEADERS:
        with pytest.raises(bfschema.EventError, match=name):
            bfschema.validate_dlq_record({k: v for k, v in good.items() if k != name})
    with pytest.raises(bfschema.EventError, match="dlq_offset"):
        bfschema.validate_dlq_record(dict(good, dlq_offset="-1"))


# ---------------------------------------------------------------- the docs
def test_events_md_documents_every_type():
    md = EVENTS_MD.read_text(encoding="utf-8")
    for t in architecture_types():
        heading = "\n### `org.badgeflow.%s`\n" % t
        assert heading in md, "no section " + heading.strip()
        section = re.split(r"\n##+ ", md.split(heading, 1)[1], maxsplit=1)[0]
        assert "(../schemas/events/examples/%s.json)" % t in section, "no link to the example of " + t
        assert "(../schemas/events/%s.schema.json)" % t in section, "no link to the schema of " + t
        s = load(SCHEMAS / (t + ".schema.json"))
        for field in s["properties"]:
            assert "| `%s` |" % field in section, "%s: field %s not in its table" % (t, field)
    for h in bfschema.DLQ_HEADERS + ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time",
                                     "ce_subject", "traceparent"):
        assert "`%s`" % h in md, h
