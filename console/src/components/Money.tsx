import { formatMoney, type MinorUnits } from "../money/money";

function attempt(amount: MinorUnits, currency: string): { text: string } | { error: string } {
  try {
    return { text: formatMoney(amount, currency) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** An amount of integer minor units, formatted by its currency's exponent; never a float. */
export function Money({ amount, currency }: { amount: MinorUnits | null | undefined; currency: string | null | undefined }) {
  if (amount === null || amount === undefined || !currency) return <span className="muted">—</span>;
  const shown = attempt(amount, currency);
  if ("error" in shown) {
    return (
      <span className="money invalid" title={shown.error}>
        unreadable amount
      </span>
    );
  }
  return <span className="money">{shown.text}</span>;
}
