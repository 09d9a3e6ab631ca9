import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { call, type Schemas } from "../api/client";
import { useSession } from "../api/context";
import { BarChart } from "../components/BarChart";
import { Money } from "../components/Money";
import { ErrorNote, Loading } from "../components/Status";
import { formatMoney } from "../money/money";
import { currenciesOf, percent, seriesByPartner } from "../overview/chart";

type Ageing = Schemas["AgeingRow"];
const BUCKETS: [keyof Omit<Ageing, "severity">, string][] = [
  ["lt_1d", "< 1 day"],
  ["d1_3", "1–3 days"],
  ["d3_7", "3–7 days"],
  ["d7_30", "7–30 days"],
  ["gt_30d", "> 30 days"],
];
const DAYS = 14;

/** The overview's money, volume and health (GET /v1/operator/balances, /volume, /health). */
export function OverviewFigures() {
  const { client } = useSession();
  const balances = useQuery({
    queryKey: ["operator", "balances"],
    queryFn: () => call(client.GET("/v1/operator/balances")),
  });
  const volume = useQuery({
    queryKey: ["operator", "volume", DAYS],
    queryFn: () => call(client.GET("/v1/operator/volume", { params: { query: { days: DAYS } } })),
  });
  const health = useQuery({
    queryKey: ["operator", "health", DAYS],
    queryFn: () => call(client.GET("/v1/operator/health", { params: { query: { days: DAYS } } })),
  });

  return (
    <>
      <section aria-labelledby="balances-heading">
        <h2 id="balances-heading">Balances per currency</h2>
        {balances.isPending ? <Loading what="balances" /> : balances.isError ? <ErrorNote error={balances.error} /> : balances.data.currencies.length === 0 ? (
          <p className="muted">No money on the books yet.</p>
        ) : (
          <div className="columns">
            {balances.data.currencies.map((books) => (
              <table key={books.currency} data-testid={`balances-${books.currency}`}>
                <caption>{books.currency}</caption>
                <thead>
                  <tr>
                    <th scope="col">Account</th>
                    <th scope="col">Type</th>
                    <th scope="col" className="num">Posted</th>
                  </tr>
                </thead>
                <tbody>
                  {books.accounts.map((a) => (
                    <tr key={a.account}>
                      <th scope="row"><code>{a.account}</code></th>
                      <td>{a.type}</td>
                      <td className="num"><Money amount={a.posted} currency={books.currency} /></td>
                    </tr>
                  ))}
                  <tr className="total">
                    <th scope="row">Customer liabilities (all wallets)</th>
                    <td>liability</td>
                    <td className="num" data-testid={`liabilities-${books.currency}`}>
                      <Money amount={books.customer_liabilities} currency={books.currency} />
                    </td>
                  </tr>
                </tbody>
              </table>
            ))}
          </div>
        )}
      </section>

      <section aria-labelledby="volume-heading">
        <h2 id="volume-heading">Today's volume per partner</h2>
        {volume.isPending ? <Loading what="volume" /> : volume.isError ? <ErrorNote error={volume.error} /> : (() => {
          const today = volume.data.series[volume.data.series.length - 1];
          const days = volume.data.series;
          return (
            <>
              {!today || today.partners.length === 0 ? (
                <p className="muted">No partner events today (UTC).</p>
              ) : (
                <table data-testid="volume-today">
                  <caption>{today.date} (UTC){volume.data.truncated ? " — more postings than one read holds: partial" : ""}</caption>
                  <thead>
                    <tr>
                      <th scope="col">Partner</th>
                      <th scope="col">Currency</th>
                      <th scope="col" className="num">Postings</th>
                      <th scope="col" className="num">Gross</th>
                    </tr>
                  </thead>
                  <tbody>
                    {today.partners.map((p) => (
                      <tr key={`${p.partner}-${p.currency}`}>
                        <th scope="row"><Link to={`/breaks?partner=${encodeURIComponent(p.partner)}`}>{p.partner}</Link></th>
                        <td>{p.currency}</td>
                        <td className="num">{p.count}</td>
                        <td className="num"><Money amount={p.gross} currency={p.currency} /></td>
                      </tr>
                    ))}
                    {today.totals.map((t) => (
                      <tr key={`total-${t.currency}`} className="total">
                        <th scope="row">All partners</th>
                        <td>{t.currency}</td>
                        <td className="num">{t.count}</td>
                        <td className="num"><Money amount={t.gross} currency={t.currency} /></td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              <h3>Volume over the last {days.length} days</h3>
              <div className="charts">
                {currenciesOf(days).flatMap((currency) =>
                  [...seriesByPartner(days, currency)].map(([partner, bars]) => (
                    <BarChart
                      key={`${partner}-${currency}`}
                      testId={`volume-chart-${partner}-${currency}`}
                      title={`${partner} gross per day, ${currency}`}
                      bars={bars}
                      format={(v) => formatMoney(v, currency)}
                    />
                  )),
                )}
              </div>
            </>
          );
        })()}
      </section>

      <section aria-labelledby="health-heading">
        <h2 id="health-heading">Health</h2>
        {health.isPending ? <Loading what="health" /> : health.isError ? <ErrorNote error={health.error} /> : (
          <>
            <ul className="cards">
              <li className="card" data-testid="webhooks-24h">
                <strong className="figure">
                  {percent(health.data.webhooks.last_24h_succeeded, health.data.webhooks.last_24h_attempts) ?? "—"}
                  {health.data.webhooks.last_24h_attempts > 0 ? "%" : ""}
                </strong>{" "}
                webhook deliveries succeeded in 24 h ({health.data.webhooks.last_24h_succeeded} of{" "}
                {health.data.webhooks.last_24h_attempts})
              </li>
              <li className="card" data-testid="payouts-stuck">
                <strong className="figure">{health.data.payouts.stuck}</strong> payouts stuck (open, unchanged for{" "}
                {Math.round(health.data.payouts.stuck_after_seconds / 60)} min), {health.data.payouts.unknown} with an unknown outcome,{" "}
                {health.data.payouts.open} open: <Link to="/payouts?attention=true">those needing attention</Link>
              </li>
            </ul>
            <div className="charts">
              <BarChart
                testId="ageing-chart"
                title="Open breaks by age"
                bars={BUCKETS.map(([key, label]) => ({
                  key,
                  label,
                  value: BigInt(health.data.break_ageing.reduce((n, row) => n + row[key], 0)),
                }))}
                format={(v) => `${v} breaks`}
              />
              <BarChart
                testId="webhooks-chart"
                title="Webhook delivery success per day (%)"
                bars={health.data.webhooks.days.map((d) => ({
                  key: d.date,
                  label: d.date,
                  value: BigInt(percent(d.succeeded, d.attempts) ?? 0),
                }))}
                format={(v) => `${v}%`}
              />
            </div>
            <table data-testid="ageing-table">
              <caption>Open breaks by severity and age</caption>
              <thead>
                <tr>
                  <th scope="col">Severity</th>
                  {BUCKETS.map(([key, label]) => <th key={key} scope="col" className="num">{label}</th>)}
                </tr>
              </thead>
              <tbody>
                {health.data.break_ageing.map((row) => (
                  <tr key={row.severity}>
                    <th scope="row"><Link to={`/breaks?state=open&severity=${row.severity}`}>{row.severity}</Link></th>
                    {BUCKETS.map(([key]) => <td key={key} className="num">{row[key]}</td>)}
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
    </>
  );
}
