"""The format registry: which parser reads a partner's report and a bank statement."""

import pytest

from shared.partners import PARTNERS
from shared.reconciliation import parse_adyen, parse_bai2, parse_camt053, parse_stripe
from shared.reconciliation import service as recon_service
from shared.reconciliation.formats import FORMATS, statement_format


def test_each_partner_report_is_read_by_the_format_the_partner_names():
    assert recon_service.PARTNER_PARSERS == {"stripe": parse_stripe, "adyen": parse_adyen}
    assert all(p.REPORT_FORMAT in (None, *FORMATS) for p in PARTNERS.values())


@pytest.mark.parametrize(
    ("name", "parse"), [("s.XML", parse_camt053), ("b.bai", parse_bai2), ("b.BAI2", parse_bai2), ("b.txt", parse_bai2)]
)
def test_a_statement_format_is_chosen_by_the_file_name(name, parse):
    assert statement_format(name).parse is parse
    assert recon_service.bank_parser(name) is parse


def test_any_other_statement_file_is_refused_naming_the_formats():
    with pytest.raises(
        ValueError, match=r"^s\.csv: bank statements are camt\.053 \(\.xml\) or BAI2 \(\.bai, \.bai2, \.txt\)$"
    ):
        statement_format("s.csv")
