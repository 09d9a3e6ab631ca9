"""The bank line class registry: every code it names exists in the table it cites, with the direction
the class implies; classification of BAI2 type codes and camt BkTxCd."""

import pytest

from shared.reconciliation import bank_codes
from shared.reconciliation.bank_codes import (
    BAI2_DIRECTION,
    CAMT_FAMILIES,
    CAMT_SUBFAMILIES,
    LINE_CLASSES,
    bai2_class,
    camt_class,
)
from shared.reconciliation.frame import KINDS


@pytest.mark.parametrize("line_class", LINE_CLASSES, ids=lambda c: c.name)
def test_every_bai2_code_a_class_names_is_in_the_specifications_list_with_its_direction(line_class):
    for code in line_class.bai2:
        assert code in BAI2_DIRECTION, f"{line_class.name}: {code} is not a BAI2 type code"
        assert BAI2_DIRECTION[code] is not None, f"{code} is a status code, not a transaction"
        if line_class.direction:
            assert BAI2_DIRECTION[code] == line_class.direction, (line_class.name, code)


@pytest.mark.parametrize("line_class", LINE_CLASSES, ids=lambda c: c.name)
def test_every_camt_code_a_class_names_is_an_iso_code(line_class):
    assert set(line_class.camt_subfamilies) <= set(CAMT_SUBFAMILIES)
    assert set(line_class.camt_families) <= set(CAMT_FAMILIES)


def test_no_code_is_in_two_classes_except_the_ach_pair_the_direction_decides():
    seen: dict[str, str] = {}
    for c in LINE_CLASSES:
        for code in c.bai2:
            assert code not in seen, f"BAI2 {code} in {seen[code]} and {c.name}"
            seen[code] = c.name
    credit, debit = bank_codes.BY_NAME["ach_credit"], bank_codes.BY_NAME["ach_debit"]
    assert credit.camt_subfamilies == debit.camt_subfamilies
    others = [s for c in LINE_CLASSES if c not in (credit, debit) for s in c.camt_subfamilies]
    assert len(others) == len(set(others)) and not set(others) & set(credit.camt_subfamilies)


def test_classes_are_frame_kinds_and_each_ledger_kind_has_one_class():
    assert set(bank_codes.LINE_CLASS_NAMES) <= set(KINDS)
    kinds = [k for c in LINE_CLASSES for k in c.ledger_kinds]
    assert len(kinds) == len(set(kinds)) == len(bank_codes.LEDGER_KIND_CLASS)
    assert set(kinds) == {"ach.credit.received", "ach.debit.sent", "ach.debit.returned", "ach.credit.returned"}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("165", "ach_credit"),
        ("142", "ach_credit"),
        ("451", "ach_debit"),
        ("455", "ach_debit"),
        ("257", "ach_return"),
        ("557", "ach_return"),
        ("195", "transfer"),
        ("495", "transfer"),
        ("475", "check"),
        ("661", "fee"),
        ("399", "other"),
        ("699", "other"),
        ("108", "other"),
        ("555", "other"),  # "Deposited Item Returned": not an ACH code (checks are returned with it too)
    ],
)
def test_bai2_classification(code, expected):
    assert bai2_class(code) == expected


@pytest.mark.parametrize(
    ("domain", "family", "sub", "credit", "prtry", "expected"),
    [
        ("PMNT", "RCDT", "ACDT", True, (None, None), "ach_credit"),
        ("PMNT", "ICDT", "ACDT", False, (None, None), "ach_debit"),
        ("PMNT", "RDDT", "ADBT", False, (None, None), "ach_debit"),
        ("PMNT", "IDDT", "ADBT", True, (None, None), "ach_credit"),
        ("PMNT", "RCDT", "ACON", True, (None, None), "ach_credit"),  # ACH Concentration
        ("CAMT", "ACCB", "ACON", False, (None, None), "ach_debit"),
        ("PMNT", "ICDT", "ARET", True, (None, None), "ach_return"),
        ("PMNT", "RCDT", "AREV", False, (None, None), "ach_return"),
        ("PMNT", "RCDT", "ESCT", True, (None, None), "transfer"),
        ("PMNT", "RCDT", "XXXX", True, (None, None), "transfer"),  # family decides
        ("PMNT", "ICHQ", "XXXX", False, (None, None), "check"),
        ("PMNT", "MDOP", "CHRG", False, (None, None), "fee"),
        ("ACMT", "MDOP", "FEES", False, (None, None), "fee"),
        ("PMNT", "RDDT", "ESDD", False, (None, None), "other"),
        (None, None, None, True, ("165", "BAI"), "ach_credit"),  # a BAI2 code as proprietary
        (None, None, None, True, ("165", "BANKX"), "other"),  # another issuer's 165 means nothing to us
        (None, None, None, True, (None, None), "other"),
    ],
)
def test_camt_classification(domain, family, sub, credit, prtry, expected):
    assert camt_class(domain, family, sub, credit, prtry) == expected
