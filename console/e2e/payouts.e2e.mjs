// End to end: an operator follows a paid payout's timeline in the console (on console/e2e/harness.mjs).
//
//   CONSOLE_URL=… CONSOLE_KEY=<operator key> CONSOLE_ARTIFACTS=dir CONSOLE_PAYOUT=<a paid payout's id> \
//   node e2e/payouts.e2e.mjs
//
// Signs in, opens Payouts (every tenant's), filters the paid ones, opens the payout's timeline: its
// states in order from requested to settled, the partner's attempt, the ledger transactions it booked
// (the hold, its capture), the bank's webhooks (the settled one opened as its raw event); follows the hold to its transaction page, which links back to the payout.
import { required, run } from "./harness.mjs";

const { CONSOLE_KEY: key, CONSOLE_PAYOUT: payout } = required("CONSOLE_URL", "CONSOLE_KEY", "CONSOLE_ARTIFACTS", "CONSOLE_PAYOUT");

await run(async ({ page, step, shot, nav, signIn, goto, problems }) => {
  await step("sign in", async () => {
    await goto("login");
    await signIn(key);
  });

  await step("payouts list", async () => {
    await nav("Payouts").click();
    await page.getByRole("heading", { name: "Payouts" }).waitFor();
    await page.getByLabel("State").selectOption("paid");
    const row = page.getByTestId("payouts").getByRole("row").filter({ hasText: "paid" }).first();
    await row.waitFor();
    if (!/••••\d{4}/.test(await page.getByTestId("payouts").innerText())) problems.push("payouts: destination not masked");
    await shot("payouts-01-list");
  });

  await step("a payout's timeline", async () => {
    await page.getByRole("link", { name: `Timeline of payout ${payout}` }).click();
    await page.getByTestId("payout-status").filter({ hasText: "paid" }).waitFor();
    const timeline = page.getByTestId("payout-timeline");
    await timeline.getByText("requested").first().waitFor();
    const text = await timeline.innerText();
    const order = ["requested", "settled"].map((word) => text.indexOf(word));
    if (order.some((i) => i < 0) || order[0] > order[1]) problems.push(`timeline order: ${JSON.stringify(text)}`);
    if (!/ledger hold/.test(text) || !/ledger capture/.test(text)) problems.push(`timeline without the ledger: ${JSON.stringify(text)}`);
    await page.getByTestId("payout-attempts").getByRole("row").nth(1).waitFor();
    // the bank's settled webhook, as it arrived, opened in place as the raw event intake stored
    const hook = timeline.getByRole("listitem").filter({ hasText: "partner webhook" }).filter({ hasText: "ach.outgoing_transfer.settled" }).first();
    await hook.getByText("raw event").click();
    const body = hook.getByTestId("raw-body");
    await body.waitFor();
    if (!(await body.innerText()).includes(payout)) problems.push("the webhook's raw event does not name the payout's transfer");
    await shot("payouts-02-timeline");
  });

  await step("the hold's transaction links back", async () => {
    const hold = page.getByTestId("payout-timeline").getByRole("listitem").filter({ hasText: "ledger hold" });
    await hold.getByRole("link").click();
    await page.getByRole("heading", { name: /^Transaction / }).waitFor();
    await page.getByRole("link", { name: payout, exact: true }).waitFor();
    await shot("payouts-03-hold-transaction");
  });
});
