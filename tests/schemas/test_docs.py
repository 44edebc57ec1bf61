# SPDX-License-Identifier: Apache-2.0
"""Documentation that must not drift from the code: log codes, config example."""
import pathlib
import re

TOP = pathlib.Path(__file__).resolve().parents[2]
CODE = re.compile(r'"(BF_[A-Z0-9]+_[A-Z0-9_]+)"')


def codes_in_sources():
    found = set()
    for sub in ("common", "services", "tools"):
        for path in (TOP / sub).rglob("*.c"):
            found.update(CODE.findall(path.read_text(errors="replace")))
    return found


def test_every_log_code_is_documented():
    doc = "\n".join(p.read_text() for p in (TOP / "docs").rglob("*.md"))
    documented = set(re.findall(r"`(BF_[A-Z0-9_]+)`", doc))
    missing = sorted(codes_in_sources() - documented)
    assert not missing, f"log codes documented nowhere under docs/ (docs/errors.md or the service's page): {missing}"
