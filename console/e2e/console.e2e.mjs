// End to end: Debian's headless Chromium (no browser download: playwright-core drives the system
// binary) against the running local stack's api function, which serves the built console.
//
//   CONSOLE_URL=http://127.0.0.1:18086/console/ CONSOLE_KEY=ll_test_… CONSOLE_ARTIFACTS=dir \
//   CONSOLE_DEAD_LETTER=<id of an open dead letter> [CONSOLE_BREAK_REFERENCE=<a break's reference>
//   CONSOLE_KEY_B=<a second operator's key>] node e2e/console.e2e.mjs
//
// Signs in with an operator key, reads the overview, follows its dead-letter figure to the list,
// inspects the seeded dead letter, dry-runs then replays it, and opens the breaks and approvals pages.
// With a break and a second key: operator A acknowledges the break and asks to write it off (a
// request), is not offered to approve it; operator B signs in, approves it; the break is written off
// and the audit log page shows A's request and its execution approved by B.
// Fails on any console error, page error or CSP violation, on a key left in localStorage, and on any
// step that does not show what it should. Writes one screenshot per page to CONSOLE_ARTIFACTS and a
// JSON summary (steps with their milliseconds) to stdout. The key comes from the environment, never
// argv (visible to ps), and is never printed.
import { required, run } from "./harness.mjs";

const { CONSOLE_URL: url, CONSOLE_KEY: key, CONSOLE_DEAD_LETTER: deadLetter } = required(
  "CONSOLE_URL", "CONSOLE_KEY", "CONSOLE_ARTIFACTS", "CONSOLE_DEAD_LETTER",
);
const breakReference = process.env.CONSOLE_BREAK_REFERENCE; // optional: a break whose amounts are checked
const keyB = process.env.CONSOLE_KEY_B; // optional, with the break: the second operator who approves its write-off
const bulkPartner = process.env.CONSOLE_BULK_PARTNER; // optional: the partner of two open dead letters replayed as a set
const breakPage = { url: null, request: null };

// a wrong key is answered 401 and a second write-off of the same break 409 (request_pending) by design:
// their console lines are expected, any other is a problem
const expected = breakReference && keyB ? /status of (401|409)/ : /status of 401/;

await run(async ({ page, step, shot, nav, goto, problems }) => {
  await step("login page", async () => {
    await page.goto(url);
    await page.getByRole("heading", { name: "ledgerline console" }).waitFor();
    await shot("01-login");
  });

  await step("a wrong key is refused", async () => {
    await page.getByLabel("Operator API key").fill(`ll_test_0000000000000000_${"x".repeat(43)}`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "not valid" }).waitFor();
  });

  await step("sign in (keyboard)", async () => {
    const field = page.getByLabel("Operator API key");
    await field.fill(key);
    await field.press("Enter");
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    const stored = await page.evaluate(() => ({
      session: Object.keys(sessionStorage).length,
      local: Object.keys(localStorage).length,
    }));
    if (stored.session !== 1 || stored.local !== 0) problems.push(`key storage: ${JSON.stringify(stored)}`);
  });

  await step("overview", async () => {
    const figure = page.getByTestId("open-dead-letters");
    await figure.waitFor();
    const text = await figure.innerText();
    if (!/^\s*[1-9][0-9]*\+?\s+open dead letters/.test(text)) problems.push(`overview dead letters: ${JSON.stringify(text)}`);
    await page.getByTestId("open-breaks").waitFor();
    await page.getByTestId("pending-approvals").waitFor();
    await shot("02-overview");
  });

  await step("dead letters list", async () => {
    await page.getByTestId("open-dead-letters").click();
    await page.getByRole("heading", { name: "Dead letters" }).waitFor();
    await page.getByTestId("dead-letters").waitFor();
    if (!page.url().includes("/console/dead-letters?status=open")) problems.push(`list url: ${page.url()}`);
    await shot("03-dead-letters");
  });

  await step("inspect, dry run, replay", async () => {
    await page.getByRole("button", { name: `Inspect ${deadLetter}`, exact: true }).click();
    const detail = page.locator("#dead-letter-detail");
    await detail.getByRole("heading", { name: `Dead letter ${deadLetter}` }).waitFor();
    await detail.getByLabel("Why replay it (kept in the audit log)").fill("e2e: the downstream is back");
    if (await detail.getByRole("button", { name: "Replay", exact: true }).isEnabled()) {
      problems.push("Replay was enabled before a dry run");
    }
    await detail.getByRole("button", { name: "Dry run" }).click();
    await detail.getByText("Dry run: it would").waitFor();
    await shot("04-dead-letter-dry-run");
    await detail.getByRole("button", { name: "Replay", exact: true }).click();
    await detail.getByText(/Replayed \(enqueue\)|waits for a second operator/).waitFor();
    await shot("05-dead-letter-replayed");
  });

  if (bulkPartner) {
    await step("replay a filtered set: count, then replay", async () => {
      await goto(`dead-letters?status=open&partner=${encodeURIComponent(bulkPartner)}`);
      const panel = page.getByTestId("bulk-replay");
      await panel.getByLabel("Why replay them (kept in the audit log)").fill("e2e: the warehouse is back");
      if (await panel.getByRole("button", { name: /^Replay/ }).isEnabled()) problems.push("bulk Replay enabled before a count");
      await panel.getByRole("button", { name: "Count them (dry run)" }).click();
      await panel.getByTestId("bulk-dry-run").filter({ hasText: "Dry run: 2 dead letters would be replayed" }).waitFor();
      await shot("05b-dead-letters-bulk-dry-run");
      await panel.getByRole("button", { name: "Replay 2", exact: true }).click();
      await panel.getByTestId("bulk-done").filter({ hasText: "2 of 2 replayed" }).waitFor();
    });
  }

  await step("breaks", async () => {
    await nav("Reconciliation breaks").click();
    await page.getByRole("heading", { name: "Reconciliation breaks" }).waitFor();
    await page.getByTestId("breaks").waitFor();
    if (breakReference) {
      // 123456 and 123457 minor units of USD, formatted by its exponent (2) in the browser
      const row = page.getByRole("row").filter({ hasText: breakReference });
      await row.first().waitFor();
      const text = await row.first().innerText();
      if (!/1,234\.5[67] USD/.test(text) || !/0\.01 USD/.test(text)) problems.push(`break row amounts: ${JSON.stringify(text)}`);
      // one action on the ticked breaks: checked by a dry run, then applied (a note: nothing moves)
      await row.first().getByRole("checkbox").check();
      const bulk = page.getByTestId("bulk-breaks");
      await bulk.getByLabel("Action").selectOption("note");
      await bulk.getByLabel("Why (kept in the audit log)").fill("e2e: seen on the morning sweep");
      await bulk.getByRole("button", { name: "Check (dry run)" }).click();
      await bulk.getByTestId("bulk-breaks-outcomes").filter({ hasText: "would succeed" }).waitFor();
      await bulk.getByRole("button", { name: "Apply to 1" }).click();
      await bulk.getByTestId("bulk-breaks-outcomes").filter({ hasText: ": done" }).waitFor();
    }
    await shot("06-breaks");
  });

  if (breakReference && keyB) {
    await step("A: acknowledge the break, ask to write it off", async () => {
      const row = page.getByRole("row").filter({ hasText: breakReference }).first();
      await row.getByRole("link", { name: /^Work/ }).click();
      await page.getByRole("heading", { name: /^Break / }).waitFor();
      breakPage.url = page.url();
      await page.getByTestId("break-state").filter({ hasText: "open" }).waitFor();
      await page.getByLabel("Your note").fill("e2e: partner says 0.01 USD more");
      await page.getByLabel("Reference (optional: a ticket, a gs:// path, a partner case id)").fill("CASE-1");
      await page.getByRole("button", { name: "Add note" }).click();
      await page.getByTestId("break-notes").filter({ hasText: "partner says 0.01 USD more" }).waitFor();
      await page.getByRole("button", { name: "Acknowledge", exact: true }).click();
      await page.getByTestId("break-state").filter({ hasText: "acknowledged" }).waitFor();
      // refused by the API without a reason? the button stays disabled until there is one
      if (await page.getByRole("button", { name: "Ask to write off" }).isEnabled()) problems.push("write-off enabled without a reason");
      await page.getByLabel("Why write it off (kept in the audit log)").fill("e2e: a cent the partner keeps");
      await page.getByRole("button", { name: "Ask to write off" }).click();
      const asked = page.getByTestId("write-off-requested");
      await asked.filter({ hasText: "waits for a second operator" }).waitFor();
      breakPage.request = (await asked.getByRole("link").innerText()).replace(/^request /, "").trim();
      await page.getByTestId("break-pending").waitFor();
      // asking again while one is pending: the API's refusal, with its code, where it happened
      await page.getByRole("button", { name: "Ask to write off" }).click();
      await page.getByRole("alert").filter({ hasText: "request_pending" }).waitFor();
      await shot("07-break-write-off-asked");
    });
  }

  await step("approvals", async () => {
    await nav("Approvals").click();
    await page.getByTestId("requests").waitFor();
    await shot("08-approvals");
    if (breakPage.request) {
      // A's own request: listed, but the page offers no approval
      await page.getByRole("link", { name: `Open request ${breakPage.request}` }).click();
      await page.getByTestId("request-not-decidable").filter({ hasText: "You made this request" }).waitFor();
      if (await page.getByRole("button", { name: "Approve" }).count()) problems.push("A was offered to approve their own request");
    }
  });

  if (breakPage.request) {
    await step("B: sign in, approve", async () => {
      await page.getByRole("button", { name: "Sign out" }).click();
      const field = page.getByLabel("Operator API key");
      await field.fill(keyB);
      await field.press("Enter");
      // back where A signed out (the request's page), now as B
      await page.getByTestId("whoami").filter({ hasText: "e2e-b-" }).waitFor();
      await nav("Approvals").click();
      await page.getByRole("link", { name: `Open request ${breakPage.request}` }).click();
      await page.getByTestId("request-status").filter({ hasText: "pending" }).waitFor();
      await page.getByLabel("Why (kept in the audit log; needed to reject)").fill("e2e: checked the partner's report");
      await shot("09-request");
      await page.getByRole("button", { name: "Approve" }).click();
      await page.getByTestId("request-decided").filter({ hasText: "Approved" }).waitFor();
      await page.getByTestId("request-status").filter({ hasText: "executed" }).waitFor();
      await shot("10-request-approved");
    });

    await step("the break is written off", async () => {
      await page.goto(breakPage.url);
      await page.getByTestId("break-state").filter({ hasText: "written off" }).waitFor();
      await page.getByTestId("break-history").filter({ hasText: "written off" }).waitFor();
      await shot("11-break-written-off");
    });

    await step("audit log", async () => {
      await nav("Audit log").click();
      await page.getByTestId("audit-log").waitFor();
      const target = decodeURIComponent(new URL(breakPage.url).pathname.split("/").pop());
      await page.getByLabel("Target").fill(target);
      const today = new Date().toISOString().slice(0, 10); // the entries' times, as UTC days
      await page.getByLabel("From (UTC day)").fill(today);
      await page.getByLabel("To (UTC day, inclusive)").fill(today);
      await page.getByRole("button", { name: "Filter" }).click();
      const table = page.getByTestId("audit-log");
      const asked = table.getByRole("row").filter({ hasText: "request:write_off" });
      const done = table.getByRole("row").filter({ hasText: breakPage.request }).filter({ hasNotText: "request:" });
      await asked.first().waitFor();
      await done.first().waitFor();
      const text = await done.first().innerText();
      if (!/write_off/.test(text)) problems.push(`audit execution row: ${JSON.stringify(text)}`);
      if (!page.url().includes(`from=${today}`)) problems.push(`audit url without the day: ${page.url()}`);
      await shot("12-audit-log");
    });
  }

  await step("deep link and sign out", async () => {
    await page.goto(new URL("dead-letters?status=replayed", url).toString());
    await page.getByRole("heading", { name: "Dead letters" }).waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Operator API key").waitFor();
    const left = await page.evaluate(() => Object.keys(sessionStorage).length + Object.keys(localStorage).length);
    if (left !== 0) problems.push(`storage after sign-out: ${left} item(s)`);
  });
}, { expected });
