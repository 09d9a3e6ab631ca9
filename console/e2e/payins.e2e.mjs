// End to end: an operator finds a card pay-in and its refund in the console (on console/e2e/harness.mjs).
//
//   CONSOLE_URL=… CONSOLE_KEY=<operator key> CONSOLE_ARTIFACTS=dir CONSOLE_PAYMENT=<a succeeded pay-in
//   with one succeeded refund> node e2e/payins.e2e.mjs
//
// Signs in, opens Pay-ins (every tenant's), filters the succeeded ones, opens the pay-in: its amount
// and what was refunded (by the currency's exponent), the refund, its timeline, the ledger transactions
// it and its refund booked, the processor's webhook (opened as its raw event); follows the credit to its transaction page, which links back to the pay-in.
import { required, run } from "./harness.mjs";

const { CONSOLE_KEY: key, CONSOLE_PAYMENT: payment } = required("CONSOLE_URL", "CONSOLE_KEY", "CONSOLE_ARTIFACTS", "CONSOLE_PAYMENT");

await run(async ({ page, step, shot, nav, signIn, goto, problems }) => {
  await step("sign in", async () => {
    await goto("login");
    await signIn(key);
  });

  await step("pay-ins list", async () => {
    await nav("Pay-ins").click();
    await page.getByRole("heading", { name: "Pay-ins" }).waitFor();
    await page.getByLabel("State").selectOption("succeeded");
    await page.getByRole("link", { name: `Open pay-in ${payment}` }).waitFor();
    await shot("payins-01-list");
  });

  await step("a pay-in with its refund and transactions", async () => {
    await page.getByRole("link", { name: `Open pay-in ${payment}` }).click();
    await page.getByTestId("payment-status").filter({ hasText: "succeeded" }).waitFor();
    const facts = await page.getByTestId("payment-facts").innerText();
    if (!/50\.00 USD/.test(facts) || !/20\.00 USD/.test(facts)) problems.push(`pay-in amounts: ${JSON.stringify(facts)}`);
    await page.getByTestId("payment-refunds").getByRole("row").filter({ hasText: "succeeded" }).waitFor();
    const booked = await page.getByTestId("payment-transactions").innerText();
    if (!/credit/.test(booked) || !/hold/.test(booked) || !/capture/.test(booked)) problems.push(`booked: ${JSON.stringify(booked)}`);
    const hook = page.getByTestId("payment-webhooks").getByRole("listitem").filter({ hasText: "payment_intent.succeeded" }).first();
    await hook.getByText("raw event").click();
    if (!(await hook.getByTestId("raw-body").innerText()).includes(payment)) problems.push("the webhook's raw event does not name the pay-in");
    await shot("payins-02-detail");
  });

  await step("the credit's transaction links back", async () => {
    await page.getByTestId("payment-transactions").getByRole("listitem").filter({ hasText: "credit" }).getByRole("link").click();
    await page.getByRole("heading", { name: /^Transaction / }).waitFor();
    await page.getByRole("link", { name: payment, exact: true }).click();
    await page.getByRole("heading", { name: `Pay-in ${payment}` }).waitFor();
  });
});
