// End to end: Debian's headless Chromium (no browser download: playwright-core drives the system
// binary) against the running local stack's api function, which serves the built console.
//
//   CONSOLE_URL=http://127.0.0.1:18086/console/ CONSOLE_KEY=ll_test_… CONSOLE_ARTIFACTS=dir \
//   CONSOLE_DEAD_LETTER=<id of an open dead letter> node e2e/console.e2e.mjs
//
// Signs in with an operator key, reads the overview, follows its dead-letter figure to the list,
// inspects the seeded dead letter, dry-runs then replays it, and opens the breaks and approvals pages.
// Fails on any console error, page error or CSP violation, on a key left in localStorage, and on any
// step that does not show what it should. Writes one screenshot per page to CONSOLE_ARTIFACTS and a
// JSON summary (steps with their milliseconds) to stdout. The key comes from the environment, never
// argv (visible to ps), and is never printed.
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const url = process.env.CONSOLE_URL;
const key = process.env.CONSOLE_KEY;
const artifacts = process.env.CONSOLE_ARTIFACTS;
const deadLetter = process.env.CONSOLE_DEAD_LETTER;
const breakReference = process.env.CONSOLE_BREAK_REFERENCE; // optional: a break whose amounts are checked
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (!url || !key || !artifacts || !deadLetter) {
  console.error("CONSOLE_URL, CONSOLE_KEY, CONSOLE_ARTIFACTS and CONSOLE_DEAD_LETTER are required");
  process.exit(2);
}

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const TIMEOUT = 15_000;
const started = performance.now();
const steps = [];
const problems = [];

let current = "start";
async function step(name, work) {
  const at = performance.now();
  current = name;
  await work();
  steps.push({ name, ms: Math.round(performance.now() - at) });
}

await mkdir(artifacts, { recursive: true });
const profile = await mkdtemp(path.join(os.tmpdir(), "ledgerline-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ARGS,
    viewport: { width: 1366, height: 800 }, // a laptop
    timeout: 30_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
  const shot = (name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

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

  await step("breaks", async () => {
    await page.getByRole("link", { name: "Reconciliation breaks" }).click();
    await page.getByRole("heading", { name: "Reconciliation breaks" }).waitFor();
    await page.getByTestId("breaks").waitFor();
    if (breakReference) {
      // 123456 and 123457 minor units of USD, formatted by its exponent (2) in the browser
      const row = page.getByRole("row").filter({ hasText: breakReference });
      await row.first().waitFor();
      const text = await row.first().innerText();
      if (!/1,234\.5[67] USD/.test(text) || !/0\.01 USD/.test(text)) problems.push(`break row amounts: ${JSON.stringify(text)}`);
    }
    await shot("06-breaks");
  });

  await step("approvals", async () => {
    await page.getByRole("link", { name: "Approvals" }).click();
    await page.getByTestId("requests").waitFor();
    await shot("07-approvals");
  });

  await step("deep link and sign out", async () => {
    await page.goto(new URL("dead-letters?status=replayed", url).toString());
    await page.getByRole("heading", { name: "Dead letters" }).waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Operator API key").waitFor();
    const left = await page.evaluate(() => Object.keys(sessionStorage).length + Object.keys(localStorage).length);
    if (left !== 0) problems.push(`storage after sign-out: ${left} item(s)`);
  });
} catch (error) {
  problems.push(`step "${current}" failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
  const page = context?.pages()[0];
  await page?.screenshot({ path: path.join(artifacts, "failed.png"), fullPage: true }).catch(() => {});
} finally {
  await context?.close().catch(() => {});
  await rm(profile, { recursive: true, force: true });
}

// a wrong key is answered 401 by design: its console line is expected, any other is a problem
const unexpected = problems.filter((p) => !/status of 401/.test(p));
const summary = { ok: unexpected.length === 0, ms: Math.round(performance.now() - started), steps, problems: unexpected, artifacts };
console.log(JSON.stringify(summary));
process.exit(summary.ok ? 0 : 1);
