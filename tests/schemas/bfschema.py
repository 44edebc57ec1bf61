"""bfschema: check badgeflow events against the contracts in schemas/events/.

An independent validator (Python's jsonschema, JSON Schema draft 2020-12) for the
events the C daemons produce, so that the C decoders and the schemas cannot drift
apart. Import it from any test:

    from bfschema import validate_event, validate_record
    validate_event("org.badgeflow.submission.submitted.v1", data)       # raises EventError
    data = validate_record("badgeflow.submissions", key, headers, value)  # a whole Kafka record

Everything is resolved from the files in the tree: no network is ever used.
Works with jsonschema 4.10 (Debian 12, RefResolver) and with newer releases
(the `referencing` registry).
"""
from __future__ import annotations

import datetime
import functools
import json
import os
import pathlib
import re
from typing import Any, Iterable, Mapping

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

REPO = pathlib.Path(__file__).resolve().parents[2]
SCHEMA_DIR = pathlib.Path(os.environ.get("BADGEFLOW_SCHEMA_DIR", REPO / "schemas" / "events"))
ARCHITECTURE_MD = REPO / "docs" / "architecture.md"
TYPE_PREFIX = "org.badgeflow."
BASE_URI = "https://badgeflow.org/schemas/events/"
DEFAULT_TOPIC_PREFIX = "badgeflow."

# topic (without prefix) -> (how the record key is derived, event types without prefix).
# Must equal the topics table of docs/architecture.md (tests/schemas checks it).
TOPICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "submissions": ("submission_id", ("submission.submitted.v1", "submission.withdrawn.v1")),
    "evidence": ("submission_id", ("evidence.processed.v1", "evidence.failed.v1")),
    "submissions.ready": ("submission_id", ("submission.ready.v1", "submission.rejected.v1")),
    "routing": ("submission_id", ("routing.requested.v1", "assignment.scored.v1",
                                  "assignment.release_requested.v1")),
    "assignments": ("submission_id", ("assignment.created.v1", "assignment.released.v1",
                                      "assignment.expired.v1", "assignment.completed.v1")),
    "scores": ("submission_id", ("score.submitted.v1", "decision.override_requested.v1")),
    "decisions": ("submission_id", ("decision.made.v1", "score.rejected.v1")),
    "credentials": ("submission_id_or_educator_id", ("credential.issued.v1", "credential.revoked.v1")),
    "notifications": ("tenant_id", ("webhook.endpoint_disabled.v1",)),
    "analytics": ("educator_pseudonym", ("statement.recorded.v1",)),
    "metrics.pilot": ("pilot_id", ("pilot.metrics.v1",)),
}

DLQ_HEADERS = ("dlq_reason", "dlq_topic", "dlq_partition", "dlq_offset", "dlq_consumer", "dlq_time")


class EventError(ValueError):
    """An event (or record) that breaks its contract; `.errors` lists every fault."""

    def __init__(self, what: str, errors: list[str]):
        self.errors = errors
        super().__init__("%s: %s" % (what, "; ".join(errors)))


class UnknownEventType(EventError):
    pass


# ---------------------------------------------------------------- formats
# jsonschema checks `date-time` and `uri` only when optional packages are
# installed (rfc3339-validator, rfc3987), which Debian 12 lacks: these checkers
# make the checks the same everywhere.
_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_URI = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*:"                       # scheme
    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]#]|%[0-9A-Fa-f]{2})*$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s\"(),:;<>\[\\\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def is_date_time(value: object) -> bool:
    """RFC 3339 date-time (section 5.6), calendar-checked."""
    if not isinstance(value, str):
        return True
    m = _DATE_TIME.match(value)
    if not m:
        return False
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    try:
        datetime.datetime(y, mo, d, h, mi, min(s, 59))  # second 60: a leap second
    except ValueError:
        return False
    if s > 60:
        return False
    if m.group(9) and (int(m.group(10)) > 23 or int(m.group(11)) > 59):
        return False
    return True


def is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    m = _DATE.match(value)
    if not m:
        return False
    try:
        datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return False
    return True


def is_uri(value: object) -> bool:
    """An absolute URI (RFC 3986): a scheme and only URI characters, %-escapes well-formed."""
    return not isinstance(value, str) or bool(_URI.match(value))


def is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(_UUID.match(value))


def is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.match(value))


def format_checker() -> FormatChecker:
    fc = FormatChecker()
    fc.checks("date-time")(is_date_time)
    fc.checks("date")(is_date)
    fc.checks("uri")(is_uri)
    fc.checks("uuid")(is_uuid)
    fc.checks("email")(is_email)
    return fc


# ---------------------------------------------------------------- schemas
def schema_files() -> list[pathlib.Path]:
    return sorted(SCHEMA_DIR.glob("*.schema.json"))


@functools.lru_cache(maxsize=1)
def load_schemas() -> dict[str, dict]:
    """Every schema of schemas/events, by its `$id`."""
    out = {}
    for p in schema_files():
        with open(p, encoding="utf-8") as f:
            s = json.load(f)
        out[s["$id"]] = s
    return out


def short_type(ce_type: str) -> str:
    return ce_type[len(TYPE_PREFIX):] if ce_type.startswith(TYPE_PREFIX) else ce_type


def schema_id(ce_type: str) -> str:
    return BASE_URI + short_type(ce_type) + ".schema.json"


def event_types() -> list[str]:
    """The event types that have a schema, without the `org.badgeflow.` prefix."""
    return sorted(i[len(BASE_URI):-len(".schema.json")] for i in load_schemas()
                  if not i.endswith("/common.schema.json"))


def _no_network(uri: str):
    raise jsonschema.exceptions.RefResolutionError(
        "refusing to fetch %s: every $ref must resolve to a file of schemas/events" % uri)


def _make_validator(schema: dict, *, formats: bool = True) -> Draft202012Validator:
    schemas = load_schemas()
    fc = format_checker() if formats else None
    try:
        from referencing import Registry, Resource  # jsonschema >= 4.18
        from referencing.jsonschema import DRAFT202012
    except ImportError:
        Registry = None
    if Registry is not None:
        registry = Registry().with_resources(
            (i, Resource.from_contents(s, default_specification=DRAFT202012)) for i, s in schemas.items())
        return Draft202012Validator(schema, registry=registry, format_checker=fc)
    resolver = jsonschema.RefResolver(base_uri=schema.get("$id", ""), referrer=schema,
                                      store=dict(schemas),
                                      handlers={"http": _no_network, "https": _no_network})
    return Draft202012Validator(schema, resolver=resolver, format_checker=fc)


@functools.lru_cache(maxsize=None)
def validator_for(ce_type: str, formats: bool = True) -> Draft202012Validator:
    sid = schema_id(ce_type)
    schema = load_schemas().get(sid)
    if schema is None or sid.endswith("/common.schema.json"):
        raise UnknownEventType(ce_type, ["no schema %s in %s" % (sid, SCHEMA_DIR)])
    return _make_validator(schema, formats=formats)


def _path(err: jsonschema.ValidationError) -> str:
    out = ""
    for p in err.absolute_path:
        out += "[%d]" % p if isinstance(p, int) else (".%s" % p if out else str(p))
    return out or "(data)"


def event_errors(ce_type: str, data: Any) -> list[str]:
    """Every fault of `data` against the schema of `ce_type`, as `field.path: message`."""
    errs = sorted(validator_for(ce_type).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return ["%s: %s" % (_path(e), e.message) for e in errs]


def validate_event(ce_type: str, data: Any) -> None:
    """Raise EventError unless `data` is a valid `data` object of `ce_type`.

    `ce_type` may carry the `org.badgeflow.` prefix or not; an unknown type raises
    UnknownEventType (an EventError).
    """
    errors = event_errors(ce_type, data)
    if errors:
        raise EventError(short_type(ce_type), errors)


# ---------------------------------------------------------------- Kafka records
def _headers(headers: Mapping | Iterable | None) -> dict[str, str]:
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8")
        out.setdefault(name, value)  # the first wins, as a header lookup does
    return out


def record_key(topic: str, data: Mapping, prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
    """The record key the topics table prescribes for `data` on `topic`."""
    t = topic[len(prefix):] if prefix and topic.startswith(prefix) else topic
    rule = TOPICS[t][0]
    if rule == "submission_id_or_educator_id":
        return data["educator_id"] if data.get("kind") == "stack" else data["submission_id"]
    if rule == "educator_pseudonym":
        return data["statement"]["actor"]["account"]["name"]
    return data[rule]


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def validate_record(topic: str, key: bytes | str | None, headers, value: bytes | str,
                    prefix: str = DEFAULT_TOPIC_PREFIX, require_traceparent: bool = True) -> dict:
    """Check one Kafka record of a domain topic: CloudEvents binary-mode headers, the
    type allowed on the topic, the value against its schema, the key. Returns `data`."""
    h = _headers(headers)
    errors = []
    t = topic[len(prefix):] if prefix and topic.startswith(prefix) else topic
    if t not in TOPICS:
        raise EventError(topic, ["not a badgeflow domain topic (prefix %r)" % prefix])
    for name in ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type"):
        if not h.get(name):
            errors.append("header %s: missing" % name)
    if h.get("ce_specversion") not in (None, "1.0"):
        errors.append("header ce_specversion: %r is not 1.0" % h["ce_specversion"])
    if h.get("ce_id") and not _UUID.match(h["ce_id"]):
        errors.append("header ce_id: %r is not a UUID" % h["ce_id"])
    if h.get("ce_time") and not (is_date_time(h["ce_time"]) and h["ce_time"].endswith("Z")):
        errors.append("header ce_time: %r is not an RFC 3339 UTC time" % h["ce_time"])
    if h.get("content-type") and h["content-type"].split(";")[0].strip() != "application/json":
        errors.append("header content-type: %r is not application/json" % h["content-type"])
    if require_traceparent and not _TRACEPARENT.match(h.get("traceparent", "")):
        errors.append("header traceparent: missing or not W3C (%r)" % h.get("traceparent"))
    ce_type = h.get("ce_type", "")
    if ce_type and (not ce_type.startswith(TYPE_PREFIX) or short_type(ce_type) not in TOPICS[t][1]):
        errors.append("header ce_type: %r is not allowed on %s" % (ce_type, t))
    try:
        data = json.loads(value)
    except (ValueError, TypeError) as e:
        raise EventError(topic, errors + ["value: not JSON (%s)" % e])
    if not isinstance(data, dict):
        raise EventError(topic, errors + ["value: not a JSON object"])
    if ce_type and not any(e.startswith("header ce_type") for e in errors):
        errors += event_errors(ce_type, data)
    if not errors:
        want = record_key(topic, data, prefix)
        got = key.decode("utf-8") if isinstance(key, (bytes, bytearray)) else key
        if got != want:
            errors.append("key: %r, the topics table wants %r" % (got, want))
    if errors:
        raise EventError("%s %s" % (topic, ce_type or "?"), errors)
    return data


def validate_dlq_record(headers, original_topic: str | None = None) -> dict[str, str]:
    """Check the dead-letter headers of a `<topic>.dlq` record; returns the headers."""
    h = _headers(headers)
    errors = ["header %s: missing" % n for n in DLQ_HEADERS if not h.get(n)]
    for n in ("dlq_partition", "dlq_offset"):
        if h.get(n) and not re.fullmatch(r"[0-9]{1,19}", h[n]):
            errors.append("header %s: %r is not a decimal integer" % (n, h[n]))
    if h.get("dlq_time") and not is_date_time(h["dlq_time"]):
        errors.append("header dlq_time: %r is not RFC 3339" % h["dlq_time"])
    if original_topic is not None and h.get("dlq_topic") not in (None, original_topic):
        errors.append("header dlq_topic: %r, expected %r" % (h["dlq_topic"], original_topic))
    if errors:
        raise EventError("dlq record", errors)
    return h


# ---------------------------------------------------------------- docs/architecture.md
def architecture_topics(path: pathlib.Path = ARCHITECTURE_MD) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The topics table of docs/architecture.md: topic -> (key text, event types)."""
    text = pathlib.Path(path).read_text(encoding="utf-8")
    section = text.split("## Topics", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        topic = cells[0].strip("`")
        types = tuple(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+\.v[0-9]+)`", cells[2]))
        out[topic] = (cells[1], types)
    return out
