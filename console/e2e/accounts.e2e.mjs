// End to end: accounts and transactions. Signs in with an operator key, searches the customer of a
// payment posted through intake, opens its account (the balance formatted by the currency's exponent,
// the entries with running balances), opens the payment's transaction and sees its raw partner event.
//
//   CONSOLE_URL=… CONSOLE_KEY=ll_test_… CONSOLE_ARTIFACTS=dir CONSOLE_CUSTOMER=cus_… \
//   CONSOLE_AMOUNT_TEXT=1,234.56 CONSOLE_EVENT_ID=evt_… node e2e/accounts.e2e.mjs
//
// The key comes from the environment, never argv, and is never printed.
import { required, run } from "./harness.mjs";

const {
  CONSOLE_URL: url, CONSOLE_KEY: key, CONSOLE_CUSTOMER: customer, CONSOLE_AMOUNT_TEXT: amount, CONSOLE_EVENT_ID: eventId,
} = required("CONSOLE_URL", "CONSOLE_KEY", "CONSOLE_ARTIFACTS", "CONSOLE_CUSTOMER", "CONSOLE_AMOUNT_TEXT", "CONSOLE_EVENT_ID");

await run(async ({ page, step, shot, nav, signIn }) => {
  await step("sign in", async () => {
    await page.goto(url);
    await signIn(key);
  });

  await step("search the customer", async () => {
    await nav("Accounts").click();
    await page.getByRole("heading", { name: "Accounts and transactions" }).waitFor();
    await page.getByLabel("Transaction, customer, account or partner event id").fill(customer);
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByTestId("search-results").getByRole("link", { name: customer, exact: true }).waitFor();
    await shot("01-search");
  });

  await step("open the account", async () => {
    await page.getByTestId("search-results").getByRole("link", { name: customer, exact: true }).click();
    await page.getByRole("heading", { name: "Balances" }).waitFor();
    const balances = page.getByTestId("balances");
    await balances.getByText(amount).first().waitFor();
    const entries = page.getByTestId("entries");
    await entries.getByRole("link").first().waitFor();
    await shot("02-account");
  });

  await step("open the transaction and its raw event", async () => {
    await page.getByTestId("entries").getByRole("link").first().click();
    await page.getByRole("heading", { name: "Raw partner event" }).waitFor();
    await page.getByTestId("raw-body").getByText(eventId, { exact: false }).waitFor();
    const headers = await page.getByTestId("raw-headers").innerText();
    if (/signature/i.test(headers)) throw new Error("a signature header is shown");
    await shot("03-transaction");
  });
});
