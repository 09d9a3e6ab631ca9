// Money in the browser: integer minor units formatted by the currency's ISO-4217 exponent, exactly.
// Never float: amounts are carried as bigint (or a safe integer / a string of digits converted to
// one) and split into major and minor digits as text. The exponent table is generated from
// shared/domain/money.py (scripts/generate.mjs): the same one the ledger uses.
import exponentsJson from "./exponents.gen.json";

const EXPONENTS: Readonly<Record<string, number>> = exponentsJson;

/** What the API sends (JSON integers) or what the console computes (bigint). */
export type MinorUnits = bigint | number | string;

export class MoneyError extends Error {
  override name = "MoneyError";
}

/** The ISO-4217 exponent of a currency (JPY 0, USD 2, KWD 3, CLF 4); lower case accepted. */
export function exponentOf(currency: string): number {
  const exp = EXPONENTS[currency.trim().toUpperCase()];
  if (exp === undefined) throw new MoneyError(`unknown ISO-4217 currency code: ${JSON.stringify(currency)}`);
  return exp;
}

export function isCurrency(currency: string): boolean {
  return EXPONENTS[currency.trim().toUpperCase()] !== undefined;
}

/** An exact integer of minor units, or MoneyError: a float, an unsafe number (beyond 2^53 the JSON
 * number already lost digits) or text that is not an integer is refused, never rounded. */
export function toMinor(amount: MinorUnits): bigint {
  if (typeof amount === "bigint") return amount;
  if (typeof amount === "number") {
    if (!Number.isSafeInteger(amount)) {
      throw new MoneyError(`${amount} is not an exact integer of minor units (send it as a string or bigint)`);
    }
    return BigInt(amount);
  }
  if (typeof amount === "string" && /^-?[0-9]+$/.test(amount)) return BigInt(amount);
  throw new MoneyError(`${JSON.stringify(amount)} is not an integer of minor units`);
}

/** Exact decimal text, as shared.domain.money.decimal_text: formatMinor(-1234, "USD") === "-12.34". */
export function formatMinor(amount: MinorUnits, currency: string): string {
  const exp = exponentOf(currency);
  const value = toMinor(amount);
  const sign = value < 0n ? "-" : "";
  const digits = (value < 0n ? -value : value).toString();
  if (exp === 0) return sign + digits;
  const padded = digits.padStart(exp + 1, "0");
  return `${sign}${padded.slice(0, -exp)}.${padded.slice(-exp)}`;
}

function group(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** For people: grouped digits and the currency code, e.g. "-1,234.56 USD", "1,235 JPY", "1.234 KWD". */
export function formatMoney(amount: MinorUnits, currency: string): string {
  const text = formatMinor(amount, currency);
  const negative = text.startsWith("-");
  const [whole = "", fraction] = (negative ? text.slice(1) : text).split(".");
  const body = fraction === undefined ? group(whole) : `${group(whole)}.${fraction}`;
  return `${negative ? "-" : ""}${body} ${currency.trim().toUpperCase()}`;
}

/** What an operator types, as exact minor units: parseMajor("12.34", "USD") === 1234n, "1,000" and
 * "1000.5" (USD) accepted; commas only as thousands separators, every group of three ("12,345,678.9",
 * never "12345,678.9" or "1,00"); more decimals than the currency has, a sign, an exponent or anything
 * that is not a decimal number is MoneyError, never rounded or guessed. */
export function parseMajor(text: string, currency: string): bigint {
  const exp = exponentOf(currency);
  const match = /^(\d+|\d{1,3}(?:,\d{3})+)(?:\.(\d*))?$/.exec(text.trim());
  if (!match) throw new MoneyError(`${JSON.stringify(text)} is not an amount (digits, commas between groups of three, optionally a decimal point)`);
  const [, grouped = "", fraction = ""] = match;
  const whole = grouped.replaceAll(",", "");
  if (fraction.length > exp) {
    throw new MoneyError(`${currency.trim().toUpperCase()} has ${exp} decimal${exp === 1 ? "" : "s"}: ${JSON.stringify(text)} has more`);
  }
  return BigInt(whole + fraction.padEnd(exp, "0"));
}
