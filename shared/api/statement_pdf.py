"""A statement as PDF (fpdf2: pure Python, core PDF fonts, nothing embedded). Imported only when a PDF
is asked for (shared.api.statements). The layout: a header (account, period, clock, instants), then per
currency the opening and closing balances, the totals, and every entry with its running balance;
pages numbered. The same statement gives the same bytes (the creation date is its generated_at).

The core fonts are Latin-1 only: everything printed here is ASCII (ids are [A-Za-z0-9_-:], amounts
come from shared.domain.money.decimal_text)."""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from shared.domain import statement_proof
from shared.domain import statements as domain
from shared.domain.ledger.accounts import NORMAL_SIDE, AccountBalance, account_type
from shared.domain.money import decimal_text, exponent

NB_PAGES = "{nb_pages}"

FONT = "helvetica"
ROW_FILL = (238, 241, 247)  # every other table row
ENTRY_COLUMNS = (
    ("Recorded (UTC)", 38),
    ("Effective (UTC)", 38),
    ("Entry", 52),
    ("Phase", 16),
    ("Amount", 24),
    ("Posted after", 24),
)


class _Document(FPDF):
    def __init__(self, title: str):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.title_text = title
        self.set_auto_page_break(auto=True, margin=15)
        self.alias_nb_pages(NB_PAGES)  # an alias as wide as a 6-digit page count (an export: 3,000 pages)

    def footer(self):
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.title_text} - page {self.page_no()}/{NB_PAGES}", align="C")
        self.set_text_color(0)


def _when(moment) -> str:
    return domain.iso(moment).replace("T", " ").replace("Z", "")


def _short(entry_id: str, width: int = 34) -> str:
    return entry_id if len(entry_id) <= width else f"{entry_id[: width - 12]}...{entry_id[-9:]}"


def render(s: domain.Statement, digest: str | None = None) -> bytes:
    title = f"Statement {s.customer} {s.period.name}"
    pdf = _Document(title)
    pdf.set_title(title)
    pdf.set_author("ledgerline")
    pdf.set_creation_date(s.generated_at)
    pdf.add_page()
    pdf.set_fill_color(24, 39, 71)
    pdf.rect(0, 0, pdf.w, 28, style="F")  # the header band
    pdf.set_fill_color(*ROW_FILL)
    pdf.set_text_color(255)
    pdf.set_font(FONT, style="B", size=18)
    pdf.set_xy(10, 8)
    pdf.cell(0, 8, "Account statement", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=10)
    pdf.cell(0, 6, f"Account {s.customer}  |  period {s.period.name}  |  clock {s.clock}")
    pdf.set_text_color(0)
    pdf.set_xy(10, 33)
    pdf.set_font(FONT, size=9)
    lines = [
        f"From {_when(s.period.start)} (inclusive) to {_when(s.period.end)} (exclusive), UTC",
        f"Opening balance as of {_when(s.period.opening_as_of)}; closing balance as of {_when(s.period.closing_as_of)}",
        f"Generated {_when(s.generated_at)}"
        + ("" if s.complete else " - the period had not ended: later entries may follow"),
    ]
    if digest:  # the JSON statement's proof digest: `ledgerline verify-statement` (docs/api.md)
        lines.append(f"Digest (SHA-256, {statement_proof.VERSION}): {digest}")
        if s.chain is not None:
            lines.append(f"Anchored to the ledger's {len(s.chain['heads'])} hash-chain heads at {_when(s.period.end)}")
    for text in lines:
        pdf.cell(0, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if not s.currencies:
        pdf.ln(4)
        pdf.cell(0, 6, "No balance and no entry in this period.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    normal = NORMAL_SIDE[account_type(s.account)]
    for c in s.currencies:
        _currency(pdf, c, normal)
    return bytes(pdf.output())


def _figures(b: AccountBalance, exp: int) -> list[str]:
    return [decimal_text(x, exp) for x in (b.posted, b.pending_in, b.pending_out, b.available)]


def _currency(pdf: FPDF, c: domain.CurrencyStatement, normal: str) -> None:
    exp = exponent(c.currency)
    m = c.movement
    pdf.ln(5)
    pdf.set_font(FONT, style="B", size=12)
    pdf.cell(0, 7, c.currency, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    with pdf.table(
        col_widths=(40, 30, 30, 30, 30),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        cell_fill_color=ROW_FILL,
        cell_fill_mode="ROWS",
    ) as t:
        for row in (
            ["", "Posted", "Pending in", "Pending out", "Available"],
            ["Opening balance", *_figures(c.opening, exp)],
            ["Closing balance", *_figures(c.closing, exp)],
        ):
            t.row(row)
    pdf.ln(2)
    totals = (
        f"Money in {decimal_text(m.total_in, exp)} ({m.count_in})   "
        f"Money out {decimal_text(m.total_out, exp)} ({m.count_out})   "
        f"Entries {len(c.lines)}"
    )
    pdf.cell(0, 5, totals, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if m.pending_in_added or m.pending_in_released or m.pending_out_added or m.pending_out_released:
        held = (
            f"Held for the account +{decimal_text(m.pending_in_added, exp)} / released "
            f"{decimal_text(m.pending_in_released, exp)}   Held from it +{decimal_text(m.pending_out_added, exp)}"
            f" / released {decimal_text(m.pending_out_released, exp)}"
        )
        pdf.cell(0, 5, held, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if not c.lines:
        return
    pdf.ln(2)
    pdf.set_font(FONT, size=7)
    # Plain cells, not fpdf2's table(): its layout pass costs ~4 ms a row (5,000 entries: 20 s), cells
    # ~0.1 ms. The heading is drawn again at the top of every page the entries continue on.
    align = ("L", "L", "L", "L", "R", "R")
    height = 4

    def heading() -> None:
        pdf.set_font(FONT, style="B", size=7)
        for (name, width), a in zip(ENTRY_COLUMNS, align, strict=True):
            pdf.cell(width, height, name, border=1, align=a)
        pdf.ln(height)
        pdf.set_font(FONT, size=7)

    heading()
    for n, (line, after) in enumerate(c.lines):
        if pdf.will_page_break(height):
            pdf.add_page()
            heading()
        sign = "+" if line.direction == normal else "-"
        cells = (
            _when(line.recorded_at)[:23],
            _when(line.effective_at)[:23],
            _short(line.id),
            line.phase,
            f"{sign}{decimal_text(line.amount, exp)}",
            decimal_text(after.posted, exp),
        )
        for (_, width), a, text in zip(ENTRY_COLUMNS, align, cells, strict=True):
            pdf.cell(width, height, text, border=1, align=a, fill=n % 2 == 1)
        pdf.ln(height)
