"""One numbering of the invariants and one list of rejection codes, the same in code and docs/ledger.md."""

import re
from pathlib import Path

import pytest

import shared.domain.ledger as ledger_package
from shared.domain.ledger import audit
from shared.domain.ledger.errors import REJECTION_CODES, Rejected
from shared.ledger import verify

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "ledger.md").read_text()


def _section(title: str) -> list[str]:
    body = DOC.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| #")]


def test_every_check_verify_reports_is_declared_with_its_invariant():
    reported = set(re.findall(r'_problem\(\s*"(\w+)"', Path(audit.__file__).read_text()))
    assert reported == set(audit.CHECKS)
    reported_by_verify = set(re.findall(r'"check": "(\w+)"', Path(verify.__file__).read_text()))
    assert reported_by_verify | reported == set(verify.CHECKS)
    stated = set(re.findall(r"^  (I\d)  ", ledger_package.__doc__, re.M))
    assert stated == {f"I{n}" for n in range(1, 8)}
    assert {i for i in verify.CHECKS.values() if i} <= stated


def test_docs_number_the_invariants_and_their_checks_as_the_code_does():
    rows = {row.split(" | ")[0].strip("| "): row for row in _section("Invariants")}
    assert sorted(rows) == [f"I{n}" for n in range(1, 8)]
    for check, invariant in verify.CHECKS.items():
        if invariant is not None:
            assert f"`{check}`" in rows[invariant], (check, invariant)


def test_rejection_codes_are_listed_once_in_order_of_precedence_in_code_and_docs():
    documented = [re.match(r"\| `(\w+)`", row).group(1) for row in _section("Rejection codes")[1:]]
    assert documented == list(REJECTION_CODES)
    raised = set()
    for path in (ROOT / "shared").rglob("*.py"):
        raised |= set(re.findall(r'Rejected\(\s*"(\w+)"', path.read_text()))
    assert raised == set(REJECTION_CODES)


def test_a_rejection_with_an_undeclared_code_fails_loudly():
    with pytest.raises(ValueError, match="not a rejection code"):
        Rejected("not_a_code", "x")
