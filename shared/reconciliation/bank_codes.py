"""Bank line classes: the ONE registry from bank transaction codes (BAI2 type codes, ISO 20022 camt
`BkTxCd`) to what a bank line is for reconciliation.

A bank statement line is money on our bank account. Its transaction code says how it moved (ACH,
wire, check, bank fee…), never whether it is a partner's payout: a Stripe payout arrives as an ACH
credit exactly like a customer's incoming ACH transfer. So a class says which ledger facts may explain
the line, and the run (shared.reconciliation.run) tries them in order: partner payouts first for the
`payout_candidate` classes, then the ledger's postings of `ledger_kinds` on the bank account.

Tables cited (and checked by tests/unit/test_bank_codes.py: every code a class names exists there,
with the direction the class implies):
- BAI2: the type-code list of the BAI "Cash Management Balance Reporting Specifications" v2, as
  transcribed by the pinned `bai2` package (`bai2.constants.TypeCodes`: code, credit/debit, level,
  description). ledgerline uses that package for this table only; the file parser is our own
  (shared.reconciliation.formats.bai2).
- camt: ISO 20022 External Code Sets, ExternalBankTransactionDomain1Code / Family1Code /
  SubFamily1Code (the codes below are a transcription of the entries ledgerline names, with their ISO
  names). `BkTxCd/Prtry` is the fallback: a proprietary code issued by "BAI" (US banks put BAI2 type
  codes there) is classified as that BAI2 code; any other proprietary code is `other`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bai2.constants import TypeCodes as _BAI2_TABLE
from bai2.constants import TypeCodeTransaction

from shared.domain import kinds

# ---- the cited tables ------------------------------------------------------------------------------

# BAI2 type code -> "credit" | "debit" | None (status / non-monetary), from the specification's list.
BAI2_DIRECTION: dict[str, str | None] = {
    code: (t.transaction.value if t.transaction in (TypeCodeTransaction.credit, TypeCodeTransaction.debit) else None)
    for code, t in _BAI2_TABLE.items()
}
BAI2_DESCRIPTION: dict[str, str] = {code: t.description for code, t in _BAI2_TABLE.items()}

# ISO 20022 ExternalBankTransactionDomain1Code (subset, ISO names)
CAMT_DOMAINS = {
    "PMNT": "Payments",
    "ACMT": "Account Management",
    "CAMT": "Cash Management",
    "LDAS": "Loans, Deposits & Syndications",
    "SECU": "Securities",
    "FORX": "Foreign Exchange",
    "TRAD": "Trade Services",
    "XTND": "Extended Domain",
}
# ISO 20022 ExternalBankTransactionFamily1Code (subset, ISO names)
CAMT_FAMILIES = {
    "RCDT": "Received Credit Transfers",
    "ICDT": "Issued Credit Transfers",
    "RRCT": "Received Real-Time Credit Transfers",
    "IRCT": "Issued Real-Time Credit Transfers",
    "RDDT": "Received Direct Debits",
    "IDDT": "Issued Direct Debits",
    "RCHQ": "Received Cheques",
    "ICHQ": "Issued Cheques",
    "CCRD": "Customer Card Transactions",
    "MCRD": "Merchant Card Transactions",
    "LBOX": "Lockbox Transactions",
    "CNTR": "Counter Transactions",
    "MCOP": "Miscellaneous Credit Operations",
    "MDOP": "Miscellaneous Debit Operations",
    "NTAV": "Not Available",
    "OTHR": "Other",
}
# ISO 20022 ExternalBankTransactionSubFamily1Code (subset, ISO names)
CAMT_SUBFAMILIES = {
    "ACDT": "ACH Credit",
    "ACON": "ACH Concentration",
    "ADBT": "ACH Debit",
    "APAC": "ACH Pre-Authorised",
    "ACOR": "ACH Corporate Trade",
    "ASET": "ACH Settlement",
    "ATXN": "ACH Transaction",
    "ARET": "ACH Return",
    "AREV": "ACH Reversal",
    "ESCT": "SEPA Credit Transfer",
    "DMCT": "Domestic Credit Transfer",
    "XBCT": "Cross-Border Credit Transfer",
    "BOOK": "Internal Book Transfer",
    "SALA": "Payroll/Salary Payment",
    "STDO": "Standing Order",
    "CHRG": "Charges",
    "FEES": "Fees",
    "COMM": "Commission",
    "TAXE": "Taxes",
    "OTHR": "Other",
    "NTAV": "Not Available",
}


# ---- the registry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineClass:
    name: str  # the bank frame's `kind`
    meaning: str
    payout_candidate: bool  # may be a partner payout (or a payout coming back): tried on the payout ↔ bank leg
    ledger_kinds: tuple[str, ...]  # canonical ledger kinds posted on bank:*:operating that explain it (Kind.bank)
    direction: str | None  # "credit" / "debit" when every code of the class must be one; None: either
    bai2: tuple[str, ...] = ()
    camt_subfamilies: tuple[str, ...] = ()  # ISO sub-family codes (any family)
    camt_families: tuple[str, ...] = ()  # ISO family codes, when the sub-family did not decide


LINE_CLASSES: tuple[LineClass, ...] = (
    LineClass(
        "ach_credit",
        "ACH money into the account (a customer's incoming transfer, or a partner payout sent by ACH)",
        payout_candidate=True,
        ledger_kinds=kinds.reconciled_by("ach_credit"),
        direction="credit",
        bai2=("142", "143", "145", "164", "165", "166", "169"),
        camt_subfamilies=("ACDT", "ACON", "APAC", "ACOR", "ASET", "ATXN", "ADBT"),  # with CdtDbtInd CRDT
    ),
    LineClass(
        "ach_debit",
        "ACH money out of the account (an outgoing ACH transfer, a received ACH debit)",
        payout_candidate=True,
        ledger_kinds=kinds.reconciled_by("ach_debit"),
        direction="debit",
        bai2=("445", "447", "451", "452", "455", "462", "466", "469"),
        camt_subfamilies=("ACDT", "ACON", "APAC", "ACOR", "ASET", "ATXN", "ADBT"),  # with CdtDbtInd DBIT
    ),
    LineClass(
        "ach_return",
        "an ACH entry returned or reversed (either direction: an outgoing transfer coming back is a credit)",
        payout_candidate=True,
        ledger_kinds=kinds.reconciled_by("ach_return"),
        direction=None,
        bai2=("168", "257", "258", "468", "557", "558"),
        camt_subfamilies=("ARET", "AREV"),
    ),
    LineClass(
        "transfer",
        "a credit transfer / wire / book transfer (a partner payout may arrive this way)",
        payout_candidate=True,
        ledger_kinds=(),
        direction=None,
        bai2=("191", "195", "196", "201", "206", "208", "491", "493", "495", "496", "501", "506", "508"),
        camt_subfamilies=("ESCT", "DMCT", "XBCT", "BOOK", "SALA", "STDO"),
        camt_families=("RCDT", "ICDT", "RRCT", "IRCT"),
    ),
    LineClass(
        "check",
        "a check deposited, paid or returned (never a payout; ledgerline books no checks)",
        payout_candidate=False,
        ledger_kinds=(),
        direction=None,
        bai2=("175", "176", "255", "395", "474", "475"),
        camt_families=("RCHQ", "ICHQ"),
    ),
    LineClass(
        "fee",
        "a bank fee, charge, commission or tax (never a payout; ledgerline books no bank fees)",
        payout_candidate=False,
        ledger_kinds=(),
        direction="debit",
        bai2=("564", "567", "661", "698"),
        camt_subfamilies=("CHRG", "FEES", "COMM", "TAXE"),
    ),
    LineClass(
        "other",
        "anything else (Credit/Debit Any Type, miscellaneous credits and debits, unknown codes)",
        payout_candidate=True,
        ledger_kinds=(),
        direction=None,
    ),
)
BY_NAME: dict[str, LineClass] = {c.name: c for c in LINE_CLASSES}
LINE_CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in LINE_CLASSES)
_BAI2_CLASS = {code: c.name for c in LINE_CLASSES for code in c.bai2}
_ACH_DIRECTIONAL = {"ach_credit", "ach_debit"}
# every ledger kind a class reconciles against -> the class (one class per ledger kind)
LEDGER_KIND_CLASS: dict[str, str] = {k: c.name for c in LINE_CLASSES for k in c.ledger_kinds}
_UNKNOWN_CLASSES = {k.bank.line_class for k in kinds.KINDS if k.bank} - set(LINE_CLASS_NAMES)
if _UNKNOWN_CLASSES:  # an event kind (Kind.bank) names a line class that does not exist: fail at import
    raise kinds.KindError(f"event kinds name unknown bank line classes: {sorted(_UNKNOWN_CLASSES)}")


def bai2_class(type_code: str) -> str:
    """BAI2 type code -> line class name (`other` for codes the registry does not name)."""
    return _BAI2_CLASS.get(type_code, "other")


def camt_class(
    domain: str | None,
    family: str | None,
    subfamily: str | None,
    credit: bool,
    proprietary: tuple[str | None, str | None] = (None, None),
) -> str:
    """camt BkTxCd (Domn/Cd, Domn/Fmly/Cd, Domn/Fmly/SubFmlyCd; Prtry (Cd, Issr) as fallback) and the
    entry's direction -> line class name."""
    for c in LINE_CLASSES:
        if subfamily and subfamily in c.camt_subfamilies:
            if c.name in _ACH_DIRECTIONAL:
                return "ach_credit" if credit else "ach_debit"
            return c.name
    for c in LINE_CLASSES:
        if family and family in c.camt_families:
            return c.name
    code, issuer = proprietary
    if domain is None and code and (issuer or "").strip().upper() in ("BAI", "BAI2") and code.strip() in BAI2_DIRECTION:
        return bai2_class(code.strip())
    return "other"
