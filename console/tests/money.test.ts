import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseExponents } from "../scripts/generate.mjs";
import { exponentOf, formatMinor, formatMoney, MoneyError, parseMajor, toMinor } from "../src/money/money";

describe("formatMinor: exact decimal text by ISO-4217 exponent", () => {
  it("formats by the currency's exponent", () => {
    expect(formatMinor(123456, "USD")).toBe("1234.56");
    expect(formatMinor(1235, "JPY")).toBe("1235"); // zero-decimal
    expect(formatMinor(1234, "KWD")).toBe("1.234"); // three decimals
    expect(formatMinor(12345, "CLF")).toBe("1.2345"); // four
    expect(formatMinor(5, "usd")).toBe("0.05"); // lower case accepted, leading zeros
    expect(formatMinor(0, "EUR")).toBe("0.00");
  });

  it("keeps the sign, also below one major unit", () => {
    expect(formatMinor(-1234, "USD")).toBe("-12.34");
    expect(formatMinor(-5, "USD")).toBe("-0.05");
    expect(formatMinor(-7, "KWD")).toBe("-0.007");
    expect(formatMinor(-42, "JPY")).toBe("-42");
  });

  it("is exact beyond 2^53 (bigint and digit strings)", () => {
    const huge = 2n ** 64n + 1n; // 18446744073709551617
    expect(formatMinor(huge, "USD")).toBe("184467440737095516.17");
    expect(formatMinor("-9007199254740993", "JPY")).toBe("-9007199254740993");
    expect(formatMinor("9007199254740993", "KWD")).toBe("9007199254740.993");
    expect(formatMinor(Number.MAX_SAFE_INTEGER, "USD")).toBe("90071992547409.91");
  });

  it("refuses what is not an exact integer, never rounds", () => {
    expect(() => formatMinor(12.5, "USD")).toThrow(MoneyError);
    expect(() => formatMinor(2 ** 53 + 2, "USD")).toThrow(MoneyError); // already imprecise as a JSON number
    expect(() => formatMinor(Number.NaN, "USD")).toThrow(MoneyError);
    expect(() => formatMinor("12.50", "USD")).toThrow(MoneyError);
    expect(() => formatMinor("1e3", "USD")).toThrow(MoneyError);
    expect(() => formatMinor("", "USD")).toThrow(MoneyError);
    expect(() => formatMinor(100, "XXX")).toThrow(/unknown ISO-4217/);
  });
});

describe("formatMoney: for people", () => {
  it("groups digits and names the currency", () => {
    expect(formatMoney(123456789, "USD")).toBe("1,234,567.89 USD");
    expect(formatMoney(1234567, "jpy")).toBe("1,234,567 JPY");
    expect(formatMoney(-1234, "KWD")).toBe("-1.234 KWD");
    expect(formatMoney(-100000, "USD")).toBe("-1,000.00 USD");
    expect(formatMoney(2n ** 63n - 1n, "USD")).toBe("92,233,720,368,547,758.07 USD");
    expect(formatMoney(999, "USD")).toBe("9.99 USD");
  });
});

describe("the exponent table is the backend's", () => {
  it("is generated from shared/domain/money.py", () => {
    const source = readFileSync(new URL("../../shared/domain/money.py", import.meta.url), "utf8");
    const table = parseExponents(source);
    expect(table).toMatchObject({ JPY: 0, USD: 2, KWD: 3, BHD: 3, CLF: 4, ISK: 0, EUR: 2 });
    for (const [code, exp] of Object.entries(table)) expect(exponentOf(code)).toBe(exp);
  });

  it("refuses a malformed table", () => {
    expect(() => parseExponents('_EXPONENTS_TEXT = """\nUSD 2 JPY\n"""')).toThrow(/odd number/);
    expect(() => parseExponents("nothing here")).toThrow(/not found/);
  });

  it("converts what the API sends", () => {
    expect(toMinor(42)).toBe(42n);
    expect(toMinor("-42")).toBe(-42n);
    expect(toMinor(7n)).toBe(7n);
  });
});

describe("parseMajor: what an operator types, as exact minor units", () => {
  it("reads decimal text by the currency's exponent, never through a float", () => {
    expect(parseMajor("12.34", "USD")).toBe(1234n);
    expect(parseMajor("1,000.5", "usd")).toBe(100050n);
    expect(parseMajor("0.1", "USD") + parseMajor("0.2", "USD")).toBe(30n); // 0.1 + 0.2 exactly
    expect(parseMajor("1235", "JPY")).toBe(1235n);
    expect(parseMajor("1.234", "KWD")).toBe(1234n);
    expect(parseMajor("90071992547409.91", "USD")).toBe(9007199254740991n); // 2^53 - 1, exact
    expect(parseMajor("5.", "USD")).toBe(500n);
    expect(parseMajor("12,345,678.9", "USD")).toBe(1234567890n);
  });
  it("refuses more decimals than the currency has, signs, exponents and words", () => {
    for (const [text, currency] of [["1.001", "USD"], ["1.5", "JPY"], ["-1", "USD"], ["1e3", "USD"], ["", "USD"], ["abc", "USD"], ["1,00", "USD"], [".5", "USD"], ["12345,678.9", "USD"], ["1,2345", "USD"], [",100", "USD"], ["1,000,", "USD"], ["1.000,5", "USD"], ["1,000.5,5", "USD"]]) {
      expect(() => parseMajor(text ?? "", currency ?? "")).toThrow(MoneyError);
    }
    expect(() => parseMajor("1", "XXQ")).toThrow(MoneyError);
  });
});
