from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.money import (
    EXPONENTS,
    MAX_AMOUNT,
    InexactAmount,
    UnknownCurrency,
    convert,
    exponent,
    format_minor,
    normalise_currency,
)


@pytest.mark.parametrize(
    ("code", "exp"), [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("BHD", 3), ("KWD", 3), ("CLF", 4)]
)
def test_iso_exponents(code, exp):
    assert exponent(code) == exp


def test_codes_are_normalised_from_partner_lower_case():
    assert normalise_currency("usd") == "USD"
    assert normalise_currency(" jpy ") == "JPY"


@pytest.mark.parametrize("bad", ["", "US", "usdd", "XXX", "ABC", None, 840])
def test_unknown_currency_is_rejected(bad):
    with pytest.raises(UnknownCurrency):
        normalise_currency(bad)


def test_table_is_well_formed():
    assert len(EXPONENTS) > 150
    assert all(len(code) == 3 and code.isupper() for code in EXPONENTS)
    assert set(EXPONENTS.values()) <= {0, 2, 3, 4}


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(-1234, "USD", "-12.34"), (5, "USD", "0.05"), (5000, "JPY", "5000"), (1, "BHD", "0.001"), (0, "EUR", "0.00")],
)
def test_format_minor_examples(amount, currency, text):
    assert format_minor(amount, currency) == text


@given(st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT), st.sampled_from(sorted(EXPONENTS)))
def test_format_minor_is_exact(amount, currency):
    # Round trip through Decimal (never float): the text is exactly amount / 10**exponent.
    assert Decimal(format_minor(amount, currency)).scaleb(exponent(currency)) == amount


@pytest.mark.parametrize("bad", [1.5, True, "100"])
def test_format_minor_refuses_non_int(bad):
    with pytest.raises(TypeError):
        format_minor(bad, "USD")


@pytest.mark.parametrize(
    ("amount", "source", "target", "result"),
    [(150000, 2, 0, 1500), (1500, 0, 2, 150000), (1230, 3, 3, 1230), (0, 2, 0, 0), (-300, 2, 0, -3), (7, 0, 4, 70000)],
)
def test_convert_examples(amount, source, target, result):
    assert convert(amount, source, target) == result


@pytest.mark.parametrize(("amount", "source", "target"), [(150050, 2, 0), (1, 2, 0), (-150, 2, 0), (10001, 4, 2)])
def test_convert_refuses_what_would_round(amount, source, target):
    with pytest.raises(InexactAmount) as info:
        convert(amount, source, target)
    assert isinstance(info.value, ValueError) and info.value.factor == 10 ** (source - target)


@pytest.mark.parametrize("bad", [1.5, True, "100"])
def test_convert_refuses_non_int(bad):
    with pytest.raises(TypeError):
        convert(bad, 2, 0)


@given(st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT), st.integers(0, 4), st.integers(0, 4))
def test_convert_is_exact_or_refuses(amount, source, target):
    try:
        result = convert(amount, source, target)
    except InexactAmount:
        assert source > target and amount % 10 ** (source - target) != 0
        return
    assert Decimal(result).scaleb(-target) == Decimal(amount).scaleb(-source)  # same money, no unit lost or made
    assert convert(result, target, source) == amount
