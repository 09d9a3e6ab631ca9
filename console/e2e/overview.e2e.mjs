// End to end, the overview's money, volume and charts (issue 22):
//
//   CONSOLE_URL=… CONSOLE_KEY=ll_test_… CONSOLE_ARTIFACTS=dir CONSOLE_LIABILITIES="USD=1,254.56 USD;JPY=4,321 JPY" \
//   CONSOLE_PARTNER=stripe node e2e/overview.e2e.mjs
//
// Signs in, finds each currency's customer liabilities as the API reported them formatted by the
// currency's exponent, today's volume with the partner (a link to its breaks), and the charts drawn as
// images with labels (role img). Fails on any console error, page error or CSP violation. The key comes
// from the environment and is never printed.
import { required, run } from "./harness.mjs";

const { CONSOLE_KEY: key, CONSOLE_LIABILITIES: liabilities, CONSOLE_PARTNER: partner } = required(
  "CONSOLE_URL", "CONSOLE_KEY", "CONSOLE_ARTIFACTS", "CONSOLE_LIABILITIES", "CONSOLE_PARTNER",
);
const expectedLiabilities = liabilities.split(";").map((pair) => pair.split("="));

await run(async ({ page, url, step, shot, signIn, problems }) => {
  await step("sign in", async () => {
    await page.goto(url);
    await signIn(key);
  });

  await step("balances per currency", async () => {
    await page.getByRole("heading", { name: "Balances per currency" }).waitFor();
    for (const [currency, text] of expectedLiabilities) {
      const cell = page.getByTestId(`liabilities-${currency}`);
      await cell.waitFor();
      const shown = (await cell.innerText()).trim();
      if (shown !== text) problems.push(`liabilities ${currency}: ${JSON.stringify(shown)} != ${JSON.stringify(text)}`);
    }
    await page.getByTestId("balances-USD").scrollIntoViewIfNeeded();
    await shot("overview-01-balances");
  });

  await step("today's volume", async () => {
    const today = page.getByTestId("volume-today");
    await today.waitFor();
    const link = today.getByRole("link", { name: partner, exact: true }).first();
    await link.waitFor();
    const href = await link.getAttribute("href");
    if (!href?.includes(`partner=${partner}`)) problems.push(`volume partner link: ${href}`);
  });

  await step("charts", async () => {
    const images = page.getByRole("img");
    await page.getByTestId("ageing-chart").waitFor();
    const labels = await images.evaluateAll((nodes) => nodes.map((n) => n.getAttribute("aria-label") ?? ""));
    for (const title of [`${partner} gross per day, USD`, "Open breaks by age", "Webhook delivery success per day (%)"]) {
      if (!labels.some((l) => l.startsWith(`${title}:`))) problems.push(`no chart labelled ${JSON.stringify(title)}`);
    }
    const bars = await page.locator("[data-testid^=volume-chart-] rect.chart-bar").count();
    if (bars === 0) problems.push("the volume charts drew no bar");
    await page.getByRole("heading", { name: "Health" }).scrollIntoViewIfNeeded();
    await shot("overview-02-charts");
  });
});
