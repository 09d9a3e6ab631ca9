import { describe, expect, it } from "vitest";
import { consoleLink } from "../src/pages/Accounts";
import { linkTarget } from "../src/pages/TransactionDetail";

describe("account and transaction links", () => {
  it("sends a search hit to its console page, ids URL-encoded", () => {
    expect(consoleLink("transaction", "txn_1")).toBe("/transactions/txn_1");
    expect(consoleLink("partner_event", "txn_2")).toBe("/transactions/txn_2");
    expect(consoleLink("customer", "cus_a")).toBe("/accounts/cus_a");
    expect(consoleLink("account", "partner:stripe:clearing")).toBe("/accounts/partner%3Astripe%3Aclearing");
  });
  it("sends a break to the break desk and a payout to the payouts page", () => {
    expect(linkTarget("break", "brk_1")).toBe("/breaks/brk_1");
    expect(linkTarget("payout", "po_1")).toBe("/payouts/po_1");
    expect(linkTarget("reversed_by", "txn_r")).toBe("/transactions/txn_r");
    expect(linkTarget("payment", "py_1")).toBe("/payments/py_1");
    expect(linkTarget("refund", "re_1")).toBeNull();
    expect(linkTarget("fee_booking", "fb_1")).toBeNull();
  });
});
