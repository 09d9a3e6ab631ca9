// The break desk's and the approvals inbox's rules as the console applies them (docs/operations.md):
// which actions a break offers in its state, which of them wait for a second operator, whether the
// signed-in operator may decide a request. The API enforces every one of them; these only decide what
// the page offers, so an operator is not shown a button the API would refuse.
import type { BreakWork, OperatorRequest, Schemas } from "../api/client";
import { formatMoney, isCurrency, MoneyError, parseMajor } from "../money/money";

export type BreakAction = "acknowledge" | "note" | "accept" | "write_off" | "manual_match" | "adjust";

/** What each action does to money and who must agree (docs/operations.md, "Money: requests and maker-checker"). */
export const SECOND_OPERATOR: Record<BreakAction, "always" | "never" | "at or above the threshold"> = {
  acknowledge: "never",
  note: "never",
  accept: "never", // a difference accepted for now: no money moves
  manual_match: "never", // a pairing kept for later runs: no money moves
  write_off: "always", // books the difference to write_off:<partner>: a request another operator approves
  adjust: "at or above the threshold", // an adjusting entry with the operator's own legs: the currency's threshold
};

const CLOSED = new Set<BreakWork["state"]>(["resolved", "written_off"]);

/**
 * The actions a break offers now. A note goes on any break; `open` is taken (acknowledged) first;
 * accept, write off, manual match and an adjusting entry need it acknowledged (by anyone: taking it over is acknowledging it
 * again); an accepted break reopens by itself, a closed one only by undoing what closed it.
 */
export function breakActions(work: Pick<BreakWork, "state" | "assignee">, me: string | null): Set<BreakAction> {
  const actions = new Set<BreakAction>(["note"]);
  if (CLOSED.has(work.state) || work.state === "accepted") return actions;
  if (work.state === "open" || work.assignee !== me) actions.add("acknowledge");
  if (work.state === "acknowledged") {
    actions.add("accept");
    actions.add("write_off");
    actions.add("manual_match");
    actions.add("adjust");
  }
  return actions;
}

/**
 * The manual match that resolved a break, which can be undone (POST /v1/operator/manual-matches/{id}/undo):
 * the break is resolved and its latest step is the match (its reference a match id, `mm_…`), as the API
 * requires; null otherwise.
 */
export function undoableMatch(work: Pick<BreakWork, "state" | "history">): string | null {
  const last = work.history.at(-1);
  if (work.state !== "resolved" || !last?.reference?.startsWith("mm_")) return null;
  return last.reference;
}

export type Decidable = { ok: true } | { ok: false; why: string };

/**
 * Whether `me` (the person the signed-in key names: GET /v1/operator/me) may approve or reject a
 * request: pending, not past its expiry, and not their own (the API answers 403 self_approval).
 */
export function canDecide(
  request: Pick<OperatorRequest, "status" | "maker" | "expires_at">,
  me: string | null | undefined,
  now: Date = new Date(),
): Decidable {
  if (request.status !== "pending") return { ok: false, why: `This request is ${request.status}.` };
  if (Date.parse(request.expires_at) <= now.getTime()) return { ok: false, why: "This request has expired." };
  if (!me) return { ok: false, why: "This key names no operator: it can read but not decide." };
  if (request.maker === me) {
    return { ok: false, why: "You made this request: another operator approves or rejects it." };
  }
  return { ok: true };
}

/** The pending requests about one target (a break's write-off…), from one page of the inbox. */
export function pendingFor(requests: readonly OperatorRequest[], target: string): OperatorRequest[] {
  return requests.filter((r) => r.status === "pending" && r.target === target);
}

/**
 * An `<input type="date">` value (YYYY-MM-DD) as the RFC 3339 instant the API's `until` takes: the
 * start of that day in UTC. Null for anything else (the page says the date is needed).
 */
export function untilOfDate(value: string): string | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
  if (!match) return null;
  const [, y, m, d] = match;
  const at = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  // reject 2026-02-31 and the like: the date must survive the round trip
  if (at.getUTCFullYear() !== Number(y) || at.getUTCMonth() !== Number(m) - 1 || at.getUTCDate() !== Number(d)) {
    return null;
  }
  return `${value.trim()}T00:00:00Z`;
}

/** The audit log's query from the page's filters: only what the API takes (actor, action, target, cursor). */
/** A calendar day (YYYY-MM-DD, UTC) as the instants bounding it: its first microsecond and its last. */
export function dayBounds(day: string): { from: string; to: string } | null {
  const from = untilOfDate(day);
  return from ? { from, to: `${day.trim()}T23:59:59.999999Z` } : null;
}

export function auditQuery(
  filters: { actor?: string; action?: string; target?: string; after?: string; fromDay?: string; toDay?: string },
  limit = 25,
) {
  const clean = (v: string | undefined) => (v ?? "").trim();
  const after = clean(filters.after);
  const from = dayBounds(clean(filters.fromDay))?.from;
  const to = dayBounds(clean(filters.toDay))?.to;
  return {
    limit,
    // days in UTC, both inclusive: the API's from / to are instants
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    ...(clean(filters.actor) ? { actor: clean(filters.actor) } : {}),
    ...(clean(filters.action) ? { action: clean(filters.action) } : {}),
    ...(clean(filters.target) ? { target: clean(filters.target) } : {}),
    // the cursor is the last seq seen: digits only (the API refuses anything else with a 400)
    ...(/^[0-9]{1,12}$/.test(after) ? { starting_after: after } : {}),
  };
}

/** One leg of an adjusting entry as the form holds it: the amount as the operator typed it (major units). */
export type LegRow = { account: string; direction: "debit" | "credit"; amount: string; currency: string };

export type AdjustingLeg = Schemas["AdjustingLeg"];

/** Which input of which row is wrong (null: the legs as a whole, e.g. debits and credits differ). */
export type LegField = "account" | "amount" | "currency";

export type LegsCheck =
  | { ok: true; legs: AdjustingLeg[] }
  | { ok: false; why: string; row: number | null; field: LegField | null };

const MAX_AMOUNT = BigInt(Number.MAX_SAFE_INTEGER); // shared.domain.money.MAX_AMOUNT: 2^53 - 1

/**
 * The legs of POST /v1/operator/breaks/{id}/adjustments from the form's rows, exactly: each amount parsed
 * by its currency's exponent (never float), 2 to 20 legs, debits equal to credits in every currency. The
 * API checks all of it again (and the chart: no customer wallet); this says what is wrong before asking.
 */
export function checkLegs(rows: readonly LegRow[]): LegsCheck {
  if (rows.length < 2 || rows.length > 20) return { ok: false, why: "An adjusting entry has 2 to 20 legs.", row: null, field: null };
  const legs: AdjustingLeg[] = [];
  const sums = new Map<string, bigint>(); // currency -> debits minus credits
  for (const [n, row] of rows.entries()) {
    const account = row.account.trim();
    const currency = row.currency.trim().toUpperCase();
    if (!account) return { ok: false, why: `Leg ${n + 1}: which account?`, row: n, field: "account" };
    if (!isCurrency(currency)) return { ok: false, why: `Leg ${n + 1}: ${JSON.stringify(row.currency)} is not an ISO-4217 currency.`, row: n, field: "currency" };
    let minor: bigint;
    try {
      minor = parseMajor(row.amount, currency);
    } catch (error) {
      if (error instanceof MoneyError) return { ok: false, why: `Leg ${n + 1}: ${error.message}.`, row: n, field: "amount" };
      throw error;
    }
    if (minor <= 0n || minor > MAX_AMOUNT) return { ok: false, why: `Leg ${n + 1}: the amount must be above zero (and at most 2^53 - 1 minor units).`, row: n, field: "amount" };
    // isCurrency: the exponent table generated from shared/domain/money.py, the API's currency enum too
    legs.push({ account, direction: row.direction, amount: Number(minor), currency: currency as AdjustingLeg["currency"] });
    sums.set(currency, (sums.get(currency) ?? 0n) + (row.direction === "debit" ? minor : -minor));
  }
  for (const [currency, net] of sums) {
    if (net !== 0n) {
      const side = net > 0n ? "debits exceed credits" : "credits exceed debits";
      return { ok: false, why: `${currency}: ${side} by ${formatMoney(net < 0n ? -net : net, currency)}; every currency balances.`, row: null, field: null };
    }
  }
  return { ok: true, legs };
}

/** One row's amount as it will be posted ("12.30 USD"), or null while it does not read as one. */
export function legReadsAs(row: LegRow): string | null {
  const currency = row.currency.trim().toUpperCase();
  if (!isCurrency(currency)) return null;
  try {
    const minor = parseMajor(row.amount, currency);
    return minor > 0n ? formatMoney(minor, currency) : null;
  } catch (error) {
    if (error instanceof MoneyError) return null;
    throw error;
  }
}
