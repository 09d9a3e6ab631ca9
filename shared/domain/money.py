"""Money: integer minor units with ISO-4217 exponents. Never float.

Invariant: an amount is an `int` of minor units of one currency; the currency's exponent says how
many minor units make a major unit (JPY 0, USD 2, BHD 3, CLF 4).
"""

from __future__ import annotations

# ISO 4217 active codes (list one, published by SIX) and their minor-unit exponents.
# Funds / precious-metal codes with no minor unit ("N.A.") are deliberately absent: they are not
# money ledgerline moves.
_EXPONENTS_TEXT = """
AED 2 AFN 2 ALL 2 AMD 2 ANG 2 AOA 2 ARS 2 AUD 2 AWG 2 AZN 2 BAM 2 BBD 2 BDT 2 BGN 2 BHD 3 BIF 0
BMD 2 BND 2 BOB 2 BOV 2 BRL 2 BSD 2 BTN 2 BWP 2 BYN 2 BZD 2 CAD 2 CDF 2 CHE 2 CHF 2 CHW 2 CLF 4
CLP 0 CNY 2 COP 2 COU 2 CRC 2 CUP 2 CVE 2 CZK 2 DJF 0 DKK 2 DOP 2 DZD 2 EGP 2 ERN 2 ETB 2 EUR 2
FJD 2 FKP 2 GBP 2 GEL 2 GHS 2 GIP 2 GMD 2 GNF 0 GTQ 2 GYD 2 HKD 2 HNL 2 HTG 2 HUF 2 IDR 2 ILS 2
INR 2 IQD 3 IRR 2 ISK 0 JMD 2 JOD 3 JPY 0 KES 2 KGS 2 KHR 2 KMF 0 KPW 2 KRW 0 KWD 3 KYD 2 KZT 2
LAK 2 LBP 2 LKR 2 LRD 2 LSL 2 LYD 3 MAD 2 MDL 2 MGA 2 MKD 2 MMK 2 MNT 2 MOP 2 MRU 2 MUR 2 MVR 2
MWK 2 MXN 2 MXV 2 MYR 2 MZN 2 NAD 2 NGN 2 NIO 2 NOK 2 NPR 2 NZD 2 OMR 3 PAB 2 PEN 2 PGK 2 PHP 2
PKR 2 PLN 2 PYG 0 QAR 2 RON 2 RSD 2 RUB 2 RWF 0 SAR 2 SBD 2 SCR 2 SDG 2 SEK 2 SGD 2 SHP 2 SLE 2
SOS 2 SRD 2 SSP 2 STN 2 SVC 2 SYP 2 SZL 2 THB 2 TJS 2 TMT 2 TND 3 TOP 2 TRY 2 TTD 2 TWD 2 TZS 2
UAH 2 UGX 0 USD 2 USN 2 UYI 0 UYU 2 UYW 4 UZS 2 VED 2 VES 2 VND 0 VUV 0 WST 2 XAF 0 XCD 2 XCG 2
XOF 0 XPF 0 YER 2 ZAR 2 ZMW 2 ZWG 2
"""


def exponent_table(text: str) -> dict[str, int]:
    """A currency table written as `CODE exponent` pairs (ISO's below, a partner's beside its plugin)."""
    words = text.split()
    return {code: int(exp) for code, exp in zip(words[::2], words[1::2], strict=True)}


EXPONENTS: dict[str, int] = exponent_table(_EXPONENTS_TEXT)

# Largest magnitude we accept for one amount: fits BigQuery INT64 and Datastore int64 with room for
# sums of many entries (2**53 also keeps JSON consumers in JavaScript exact).
MAX_AMOUNT = 2**53 - 1


class UnknownCurrency(ValueError):
    def __init__(self, code: str):
        super().__init__(f"unknown ISO-4217 currency code: {code!r}")
        self.code = code


def normalise_currency(code: str) -> str:
    """Upper-case ISO code, or UnknownCurrency (partners such as Stripe send lower case)."""
    upper = code.strip().upper() if isinstance(code, str) else ""
    if upper not in EXPONENTS:
        raise UnknownCurrency(code)
    return upper


def exponent(currency: str) -> int:
    return EXPONENTS[normalise_currency(currency)]


class InexactAmount(ValueError):
    """An amount with no exact representation at the target exponent: it would need rounding."""

    def __init__(self, amount: int, from_exponent: int, to_exponent: int, message: str | None = None):
        self.amount, self.factor = amount, 10 ** (from_exponent - to_exponent)
        super().__init__(
            message
            or f"{amount} (exponent {from_exponent}) is not a whole number of exponent-{to_exponent} units "
            f"(x{self.factor})"
        )


def convert(amount: int, from_exponent: int, to_exponent: int) -> int:
    """The same money at another exponent, exactly, or InexactAmount; never rounded.

    This is how a partner whose exponent differs from ISO-4217's is converted at the edge, in both
    directions: convert(150000, 2, 0) == 1500 (Adyen CLP centavos -> ISO pesos), convert(1500, 0, 2)
    == 150000 (back); convert(150050, 2, 0) raises. Invariant: when it returns, convert(result,
    to_exponent, from_exponent) == amount.
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be int minor units, got {type(amount).__name__}")
    if from_exponent < 0 or to_exponent < 0:
        raise ValueError("exponents are >= 0")
    if to_exponent >= from_exponent:
        return amount * 10 ** (to_exponent - from_exponent)
    whole, rest = divmod(amount, 10 ** (from_exponent - to_exponent))
    if rest:
        raise InexactAmount(amount, from_exponent, to_exponent)
    return whole


def format_minor(amount: int, currency: str) -> str:
    """Human display of minor units, exact (no float): format_minor(-1234, "USD") == "-12.34"."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be int minor units, got {type(amount).__name__}")
    return decimal_text(amount, exponent(currency))


def decimal_text(amount: int, exp: int) -> str:
    """`amount` units at exponent `exp` as exact decimal text: decimal_text(150050, 2) == "1500.50"."""
    sign = "-" if amount < 0 else ""
    digits = str(abs(amount))
    if exp == 0:
        return f"{sign}{digits}"
    digits = digits.rjust(exp + 1, "0")
    return f"{sign}{digits[:-exp]}.{digits[-exp:]}"
