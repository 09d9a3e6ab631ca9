// End to end: an operator books an adjusting entry for a break in the console (on console/e2e/harness.mjs).
//
//   CONSOLE_URL=… CONSOLE_KEY=<operator key> CONSOLE_ARTIFACTS=dir CONSOLE_BREAK=<an open break's id> \
//   node e2e/adjust.e2e.mjs
//
// Signs in, opens the break, acknowledges it, fills the adjusting entry's two legs (the form starts them
// at the break's difference): an unbalanced amount is named before anything is asked and the button stays
// disabled; balanced, with a reason, it is asked — below the currency's threshold it posts at once and
// resolves the break, whose history says so.
import { required, run } from "./harness.mjs";

const { CONSOLE_KEY: key, CONSOLE_BREAK: breakId } = required("CONSOLE_URL", "CONSOLE_KEY", "CONSOLE_ARTIFACTS", "CONSOLE_BREAK");

await run(async ({ page, step, shot, signIn, goto, problems }) => {
  await step("sign in", async () => {
    await goto("login");
    await signIn(key);
    await page.waitForLoadState("networkidle"); // the overview's reads done: a navigation would abort them
  });

  await step("acknowledge the break", async () => {
    await goto(`breaks/${encodeURIComponent(breakId)}`);
    await page.getByTestId("break-state").filter({ hasText: "open" }).waitFor();
    await page.getByRole("button", { name: "Acknowledge", exact: true }).click();
    await page.getByTestId("break-state").filter({ hasText: "acknowledged" }).waitFor();
  });

  await step("the legs are checked before asking", async () => {
    const form = page.getByRole("form", { name: "Adjusting entry" });
    await form.waitFor();
    if ((await form.getByLabel("Leg 1 amount").inputValue()) !== "0.01") problems.push("the legs do not start at the break's difference");
    await form.getByLabel("Leg 1 account").fill("fees:stripe");
    await form.getByLabel("Leg 2 account").fill("partner:stripe:clearing");
    if ((await form.getByLabel("Leg 2 direction").inputValue()) !== "credit") problems.push("leg 2 does not start as a credit");
    await form.getByLabel("Leg 2 amount").fill("0.02");
    await form.getByLabel("Why (kept in the audit log)").fill("e2e: the partner's fee, missing from our books");
    await form.getByTestId("adjust-check").filter({ hasText: "credits exceed debits by 0.01 USD" }).waitFor();
    if (await form.getByRole("button", { name: "Ask for the adjusting entry" }).isEnabled()) problems.push("an unbalanced entry can be asked");
    await form.getByLabel("Leg 2 amount").fill("0.001");
    await form.getByTestId("adjust-check").filter({ hasText: "USD has 2 decimals" }).waitFor();
    // the wrong input itself is marked invalid and described by the message (the row is not)
    if ((await form.getByLabel("Leg 2 amount").getAttribute("aria-invalid")) !== "true") problems.push("the wrong amount is not aria-invalid");
    if ((await form.getByLabel("Leg 2 amount").getAttribute("aria-describedby")) !== "adjust-check") problems.push("the wrong amount is not described by the check");
    if ((await form.getByLabel("Leg 1 amount").getAttribute("aria-invalid")) !== null) problems.push("a right amount is marked invalid");
    await form.getByLabel("Leg 2 amount").fill("0.01");
    await form.getByTestId("adjust-leg-2-posts").filter({ hasText: "0.01 USD" }).waitFor();
    await form.getByTestId("adjust-check").filter({ hasText: "The legs balance." }).waitFor();
    await shot("adjust-01-legs");
  });

  await step("asked: posted at once, the break resolved", async () => {
    await page.getByRole("button", { name: "Ask for the adjusting entry" }).click();
    await page.getByTestId("break-state").filter({ hasText: "resolved" }).waitFor();
    await page.getByTestId("break-history").getByRole("row").filter({ hasText: "e2e: the partner's fee" }).first().waitFor();
    await shot("adjust-02-resolved");
  });
});
