// The console behind IAP, end to end in Chromium: what the cloud's load balancer does in front of the
// api is played by the browser itself, which sends IAP's signed header (X-Goog-IAP-JWT-Assertion) on
// every request; the api under test was started with LEDGERLINE_IAP_AUDIENCE and a key file of the
// test's own (tests/integration/test_console_iap_e2e.py), so it verifies the assertion as it would IAP's.
//
//   CONSOLE_URL=http://127.0.0.1:<port>/console/ CONSOLE_ARTIFACTS=dir IAP_ASSERTION=<jwt>
//   IAP_OPERATOR=<its email> CONSOLE_DEAD_LETTER=<id of an open dead letter> node e2e/iap.e2e.mjs
//
// No sign-in page: the overview at once, the header naming the Google identity; nothing in session or
// local storage; a dead letter dry-run and replayed (a change: the console's CSRF header gets it past
// the api's guard); Sign out goes to IAP's sign-out URL; an assertion the api refuses is a message on the
// page (no redirect loop through IAP's sign-out). The assertion comes from the environment, never
// argv, and is never printed.
import { required, run } from "./harness.mjs";

const { CONSOLE_URL: url, IAP_ASSERTION: assertion, IAP_OPERATOR: operator, CONSOLE_DEAD_LETTER: deadLetter, IAP_FORGED: forged } = required(
  "CONSOLE_URL", "CONSOLE_ARTIFACTS", "IAP_ASSERTION", "IAP_OPERATOR", "CONSOLE_DEAD_LETTER", "IAP_FORGED",
);

await run(async ({ page, step, shot, problems }) => {
  await step("signed in by IAP: no sign-in page", async () => {
    await page.goto(url);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    const who = await page.getByTestId("whoami").innerText();
    if (!who.includes(operator) || !who.includes("through IAP")) problems.push(`whoami: ${JSON.stringify(who)}`);
    const stored = await page.evaluate(() => ({
      session: Object.keys(sessionStorage).length,
      local: Object.keys(localStorage).length,
    }));
    if (stored.session !== 0 || stored.local !== 0) problems.push(`storage behind IAP: ${JSON.stringify(stored)}`);
    await page.getByTestId("open-dead-letters").waitFor();
    await shot("iap-01-overview");
  });

  await step("a change through IAP: dry run, replay", async () => {
    await page.getByTestId("open-dead-letters").click(); // in the app: no reload that aborts the overview's reads
    await page.getByRole("button", { name: `Inspect ${deadLetter}`, exact: true }).click();
    const detail = page.locator("#dead-letter-detail");
    await detail.getByLabel("Why replay it (kept in the audit log)").fill("e2e: replayed behind IAP");
    await detail.getByRole("button", { name: "Dry run" }).click();
    await detail.getByText("Dry run: it would").waitFor();
    await detail.getByRole("button", { name: "Replay", exact: true }).click();
    await detail.getByText(/Replayed \(enqueue\)/).waitFor();
    await shot("iap-02-replayed");
  });

  await step("sign out is IAP's", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL((u) => u.searchParams.get("gcp-iap-mode") === "CLEAR_LOGIN_COOKIE");
    // locally the header is still sent, so the console signs in again: let its reads finish
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.waitForLoadState("networkidle");
  });

  // an assertion the api refuses (signed by another key): the console says so once, no redirect loop
  await step("a refused identity is shown, not looped", async () => {
    await page.setExtraHTTPHeaders({ "X-Goog-IAP-JWT-Assertion": forged });
    await page.goto(url);
    await page.getByRole("alert").filter({ hasText: "did not accept it" }).waitFor();
    const at = page.url();
    await page.waitForTimeout(1500);
    if (page.url() !== at) problems.push(`a refused identity navigated away: ${page.url()}`);
    await shot("iap-03-refused");
  });
}, { headers: { "X-Goog-IAP-JWT-Assertion": assertion }, expected: /status of 401/ });
