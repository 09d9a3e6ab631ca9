// The end-to-end tests' browser harness: Debian's headless Chromium (no browser download: playwright-core
// drives the system binary) on a fresh profile, a laptop's viewport, every console error, page error and
// failed request collected as a problem, named steps timed, one screenshot per page, and a JSON summary
// on stdout (the pytest side reads its last line). Each console/e2e/*.e2e.mjs is one run:
//
//   await run(async ({ page, step, shot, nav, signIn, problems }) => { ... }, { expected: /status of 401/ });
//
// Keys come from the environment, never argv (visible to ps), and are never printed.
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

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

/** The environment variables a run needs; exits 2 naming the missing ones. */
export function required(...names) {
  const missing = names.filter((name) => !process.env[name]);
  if (missing.length) {
    console.error(`${missing.join(", ")} required`);
    process.exit(2);
  }
  return Object.fromEntries(names.map((name) => [name, process.env[name]]));
}

/**
 * Runs `work` in a fresh browser and exits: 0 when every step passed and no problem is left beyond the
 * `expected` ones (a pattern for console lines the run provokes on purpose, e.g. a wrong key's 401).
 * `headers`: sent with every request the browser makes (what IAP adds in front of the api: iap.e2e.mjs).
 */
export async function run(work, { expected = null, headers = undefined } = {}) {
  const { CONSOLE_URL: url, CONSOLE_ARTIFACTS: artifacts } = required("CONSOLE_URL", "CONSOLE_ARTIFACTS");
  const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
  const started = performance.now();
  const steps = [];
  const problems = [];
  let current = "start";
  await mkdir(artifacts, { recursive: true });
  const profile = await mkdtemp(path.join(os.tmpdir(), "ledgerline-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: ARGS,
      viewport: { width: 1366, height: 800 }, // a laptop
      extraHTTPHeaders: headers,
      timeout: 30_000,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(TIMEOUT);
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
    const step = async (name, body) => {
      const at = performance.now();
      current = name;
      await body();
      steps.push({ name, ms: Math.round(performance.now() - at) });
    };
    const shot = (name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
    const nav = (name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
    /** Signs in with a key from the login page (by keyboard), lands on `heading` (the overview by default). */
    const signIn = async (key, heading = "Overview") => {
      const field = page.getByLabel("Operator API key");
      await field.fill(key);
      await field.press("Enter");
      if (heading) await page.getByRole("heading", { name: heading }).waitFor();
    };
    const goto = (relative) => page.goto(new URL(relative, url).toString());
    await work({ page, url, step, shot, nav, signIn, goto, problems });
  } catch (error) {
    problems.push(`step "${current}" failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
    const page = context?.pages()[0];
    await page?.screenshot({ path: path.join(artifacts, "failed.png"), fullPage: true }).catch(() => {});
  } finally {
    await context?.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
  }
  const unexpected = problems.filter((p) => !(expected && expected.test(p)));
  const summary = { ok: unexpected.length === 0, ms: Math.round(performance.now() - started), steps, problems: unexpected, artifacts };
  console.log(JSON.stringify(summary));
  process.exit(summary.ok ? 0 : 1);
}
