import { describe, expect, it } from "vitest";
import { ActionKey, ApiError } from "../src/api/client";
import { auditQuery, breakActions, checkLegs, dayBounds, legReadsAs, undoableMatch, canDecide, pendingFor, SECOND_OPERATOR, untilOfDate, type LegRow } from "../src/operations/work";
import type { OperatorRequest } from "../src/api/client";

const leg = (account: string, direction: "debit" | "credit", amount: string, currency = "USD"): LegRow => ({ account, direction, amount, currency });

describe("breakActions", () => {
  const of = (state: "open" | "acknowledged" | "resolved" | "accepted" | "written_off", assignee: string | null = null) =>
    [...breakActions({ state, assignee }, "ana@ops.test")].sort();

  it("offers acknowledging an open break, and notes on every break", () => {
    expect(of("open")).toEqual(["acknowledge", "note"]);
  });
  it("offers accept, write off, match and an adjusting entry once acknowledged by me", () => {
    expect(of("acknowledged", "ana@ops.test")).toEqual(["accept", "adjust", "manual_match", "note", "write_off"]);
  });
  it("offers taking over a break another operator holds", () => {
    expect(of("acknowledged", "bo@ops.test")).toContain("acknowledge");
  });
  it("offers only notes on accepted and closed breaks", () => {
    for (const state of ["accepted", "resolved", "written_off"] as const) expect(of(state, "ana@ops.test")).toEqual(["note"]);
  });
  it("says a write-off always needs a second operator (an adjusting entry at its threshold), nothing else", () => {
    expect(Object.entries(SECOND_OPERATOR).filter(([, v]) => v === "always").map(([k]) => k)).toEqual(["write_off"]);
  });
});

describe("checkLegs: an adjusting entry's legs, exactly", () => {

  it("parses each amount by its currency's exponent into integer minor units", () => {
    const got = checkLegs([leg("fees:stripe", "debit", "1,234.5"), leg("partner:stripe:clearing", "credit", "1234.50"),
      leg("suspense", "debit", "700", "jpy"), leg("fees:adyen", "credit", "700", "JPY")]);
    expect(got).toEqual({ ok: true, legs: [
      { account: "fees:stripe", direction: "debit", amount: 123450, currency: "USD" },
      { account: "partner:stripe:clearing", direction: "credit", amount: 123450, currency: "USD" },
      { account: "suspense", direction: "debit", amount: 700, currency: "JPY" },
      { account: "fees:adyen", direction: "credit", amount: 700, currency: "JPY" },
    ] });
  });
  it("says which currency does not balance, and by how much", () => {
    const got = checkLegs([leg("fees:stripe", "debit", "0.02"), leg("partner:stripe:clearing", "credit", "0.01")]);
    expect(got).toEqual({ ok: false, row: null, field: null, why: "USD: debits exceed credits by 0.01 USD; every currency balances." });
    // balanced in total but not per currency
    const mixed = checkLegs([leg("a", "debit", "1"), leg("b", "credit", "1", "EUR")]);
    expect(mixed.ok).toBe(false);
  });
  it("names the leg that is wrong, never rounding", () => {
    const wrong = (rows: LegRow[]) => { const c = checkLegs(rows); return c.ok ? null : [c.row, c.why]; };
    const field = (rows: LegRow[]) => { const c = checkLegs(rows); return c.ok ? null : c.field; };
    expect(field([leg("a", "debit", "1.001"), leg("b", "credit", "1")])).toBe("amount");
    expect(field([leg("", "debit", "1"), leg("b", "credit", "1")])).toBe("account");
    expect(field([leg("a", "debit", "1", "XXQ"), leg("b", "credit", "1")])).toBe("currency");
    expect(wrong([leg("a", "debit", "12345,678.9"), leg("b", "credit", "12345678.9")])?.[0]).toBe(0); // no guessing at commas
    expect(wrong([leg("a", "debit", "1.001"), leg("b", "credit", "1")])).toEqual([0, 'Leg 1: USD has 2 decimals: "1.001" has more.']);
    expect(wrong([leg("a", "debit", "1"), leg("b", "credit", "1.5", "JPY")])?.[0]).toBe(1);
    expect(wrong([leg("a", "debit", "0"), leg("b", "credit", "0")])?.[0]).toBe(0);
    expect(wrong([leg("a", "debit", "-1"), leg("b", "credit", "1")])?.[0]).toBe(0);
    expect(wrong([leg("a", "debit", "1e3"), leg("b", "credit", "1000")])?.[0]).toBe(0);
    expect(wrong([leg(" ", "debit", "1"), leg("b", "credit", "1")])).toEqual([0, "Leg 1: which account?"]);
    expect(wrong([leg("a", "debit", "1", "XXQ"), leg("b", "credit", "1")])?.[0]).toBe(0);
    expect(wrong([leg("a", "debit", "90071992547409.92"), leg("b", "credit", "90071992547409.92")])?.[0]).toBe(0); // over 2^53 - 1
    expect(wrong([leg("a", "debit", "1")])).toEqual([null, "An adjusting entry has 2 to 20 legs."]);
  });
});

describe("legReadsAs: what each leg posts, shown beside what was typed", () => {
  it("formats the parsed minor units by the currency's exponent, or nothing while it does not read", () => {
    expect(legReadsAs(leg("a", "debit", "1234.5"))).toBe("1,234.50 USD");
    expect(legReadsAs(leg("a", "debit", "12,345,678.9"))).toBe("12,345,678.90 USD");
    expect(legReadsAs(leg("a", "debit", "1,5"))).toBeNull();
    expect(legReadsAs(leg("a", "debit", "0"))).toBeNull();
    expect(legReadsAs(leg("a", "debit", "1.234", "kwd"))).toBe("1.234 KWD");
    expect(legReadsAs(leg("a", "debit", "1", "XXQ"))).toBeNull();
  });
});

describe("canDecide", () => {
  const now = new Date("2026-12-02T12:00:00Z");
  const request = { status: "pending" as const, maker: "ana@ops.test", expires_at: "2026-12-03T12:00:00Z" };

  it("lets another operator decide a pending request", () => {
    expect(canDecide(request, "bo@ops.test", now)).toEqual({ ok: true });
  });
  it("never one's own", () => {
    const verdict = canDecide(request, "ana@ops.test", now);
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.why).toMatch(/another operator/);
  });
  it("not a decided or expired request, nor with a key naming nobody", () => {
    expect(canDecide({ ...request, status: "executed" }, "bo@ops.test", now).ok).toBe(false);
    expect(canDecide({ ...request, expires_at: "2026-12-02T11:59:59Z" }, "bo@ops.test", now).ok).toBe(false);
    expect(canDecide(request, null, now).ok).toBe(false);
  });
});

describe("pendingFor", () => {
  it("keeps the pending requests about one target", () => {
    const r = (id: string, target: string, status: OperatorRequest["status"]) => ({ id, target, status }) as OperatorRequest;
    const all = [r("a", "brk_1", "pending"), r("b", "brk_2", "pending"), r("c", "brk_1", "executed")];
    expect(pendingFor(all, "brk_1").map((x) => x.id)).toEqual(["a"]);
  });
});

describe("untilOfDate", () => {
  it("is the start of the day in UTC", () => {
    expect(untilOfDate("2026-12-31")).toBe("2026-12-31T00:00:00Z");
  });
  it("refuses what is not a real date", () => {
    for (const bad of ["", "2026-02-31", "2026-13-01", "31/12/2026", "2026-12-31T00:00"]) expect(untilOfDate(bad)).toBeNull();
  });
});

describe("auditQuery", () => {
  it("sends only the filters given, trimmed", () => {
    expect(auditQuery({ actor: " ana@ops.test ", action: "", target: undefined })).toEqual({ limit: 25, actor: "ana@ops.test" });
  });
  it("sends days as the UTC instants bounding them, both inclusive", () => {
    expect(auditQuery({ fromDay: "2026-12-01", toDay: "2026-12-02" })).toEqual({
      limit: 25,
      from: "2026-12-01T00:00:00Z",
      to: "2026-12-02T23:59:59.999999Z",
    });
    expect(auditQuery({ fromDay: "yesterday", toDay: "2026-13-45" })).toEqual({ limit: 25 });
    expect(dayBounds("2026-02-30")).toEqual(null);
  });
  it("sends a cursor only when it is a seq", () => {
    expect(auditQuery({ after: "42" }, 10)).toEqual({ limit: 10, starting_after: "42" });
    expect(auditQuery({ after: "brk_1" })).toEqual({ limit: 25 });
  });
});

describe("ActionKey", () => {
  const counter = () => {
    let n = 0;
    return () => `k${++n}`;
  };

  it("keeps the key for a retry whose outcome is unknown", () => {
    const key = new ActionKey(counter());
    expect(key.for({ reason: "x" })).toBe("k1");
    key.settle(new ApiError(0, "api_error", "network_error", "down"));
    expect(key.for({ reason: "x" })).toBe("k1");
    key.settle(new ApiError(503, "api_error", "internal_error", "boom"));
    expect(key.for({ reason: "x" })).toBe("k1");
    key.settle(new ApiError(409, "idempotency_error", "idempotency_in_flight", "wait"));
    expect(key.for({ reason: "x" })).toBe("k1");
  });
  it("makes a new key after a definite answer", () => {
    const key = new ActionKey(counter());
    key.for({ reason: "x" });
    key.settle();
    expect(key.for({ reason: "x" })).toBe("k2");
    key.settle(new ApiError(409, "invalid_request_error", "illegal_transition", "acknowledge first"));
    expect(key.for({ reason: "x" })).toBe("k3");
  });
  it("makes a new key when what is asked changes", () => {
    const key = new ActionKey(counter());
    key.for({ reason: "x" });
    key.settle(new ApiError(0, "api_error", "network_error", "down"));
    expect(key.for({ reason: "y" })).toBe("k2");
  });
});

describe("undoableMatch", () => {
  const step = (reference: string | null) => ({
    at: "2026-12-02T10:00:00Z", actor: "ana@ops.test", action: "manual_match", state: "resolved" as const, reason: "r", reference,
  });
  it("is the match that resolved the break, when that is its latest step", () => {
    expect(undoableMatch({ state: "resolved", history: [step("mm_0123456789abcdef0123")] })).toBe("mm_0123456789abcdef0123");
  });
  it("is nothing when the break was resolved otherwise, or is not resolved", () => {
    expect(undoableMatch({ state: "resolved", history: [step("txn_1")] })).toBeNull();
    expect(undoableMatch({ state: "open", history: [step("mm_1")] })).toBeNull();
    expect(undoableMatch({ state: "resolved", history: [] })).toBeNull();
  });
});
