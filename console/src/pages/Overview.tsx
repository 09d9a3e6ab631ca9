import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { call, type BreakWork } from "../api/client";
import { useSession } from "../api/context";
import { OverviewFigures } from "./OverviewFigures";
import { Money } from "../components/Money";
import { ErrorNote, Loading, Time } from "../components/Status";
import { toMinor } from "../money/money";

const PAGE = 100; // the API's largest page: counts above it read "100+"
const SEVERITIES = ["critical", "high", "medium", "low"] as const;

function count(list: { data: unknown[]; has_more: boolean }): string {
  return `${list.data.length}${list.has_more ? "+" : ""}`;
}

/** Open breaks' differences per currency, summed exactly (bigint). */
function differences(breaks: BreakWork[]): [string, bigint][] {
  const totals = new Map<string, bigint>();
  for (const b of breaks) {
    const value = b.difference ?? b.amount;
    if (value === null || !b.currency) continue;
    totals.set(b.currency, (totals.get(b.currency) ?? 0n) + toMinor(value));
  }
  return [...totals.entries()].sort(([a], [b]) => a.localeCompare(b));
}

export function OverviewPage() {
  const { client } = useSession();
  const deadLetters = useQuery({
    queryKey: ["dead-letters", "open", "count"],
    queryFn: () => call(client.GET("/v1/dead-letters", { params: { query: { status: "open", limit: PAGE } } })),
  });
  const breaks = useQuery({
    queryKey: ["breaks", "open", "count"],
    queryFn: () => call(client.GET("/v1/operator/breaks", { params: { query: { state: "open", limit: PAGE } } })),
  });
  const approvals = useQuery({
    queryKey: ["requests", "pending", "count"],
    queryFn: () => call(client.GET("/v1/operator/requests", { params: { query: { status: "pending", limit: PAGE } } })),
  });
  const runs = useQuery({
    queryKey: ["recon-runs", "latest"],
    queryFn: () => call(client.GET("/v1/reconciliation/runs", { params: { query: { limit: 5 } } })),
  });

  return (
    <>
      <h1>Overview</h1>
      <section aria-labelledby="work-heading">
        <h2 id="work-heading">Work waiting</h2>
        <ul className="cards">
          <li className="card">
            {deadLetters.isPending ? <Loading what="dead letters" /> : deadLetters.isError ? <ErrorNote error={deadLetters.error} /> : (
              <Link to="/dead-letters?status=open" data-testid="open-dead-letters">
                <strong className="figure">{count(deadLetters.data)}</strong> open dead letters
              </Link>
            )}
          </li>
          <li className="card">
            {breaks.isPending ? <Loading what="breaks" /> : breaks.isError ? <ErrorNote error={breaks.error} /> : (
              <Link to="/breaks?state=open" data-testid="open-breaks">
                <strong className="figure">{count(breaks.data)}</strong> open breaks
              </Link>
            )}
          </li>
          <li className="card">
            {approvals.isPending ? <Loading what="approvals" /> : approvals.isError ? <ErrorNote error={approvals.error} /> : (
              <Link to="/approvals?status=pending" data-testid="pending-approvals">
                <strong className="figure">{count(approvals.data)}</strong> pending approvals
              </Link>
            )}
          </li>
        </ul>
      </section>

      {breaks.isSuccess && (
        <section aria-labelledby="breaks-heading">
          <h2 id="breaks-heading">Open breaks</h2>
          <div className="columns">
            <table>
              <caption>By severity</caption>
              <thead>
                <tr>
                  <th scope="col">Severity</th>
                  <th scope="col" className="num">Open</th>
                </tr>
              </thead>
              <tbody>
                {SEVERITIES.map((severity) => (
                  <tr key={severity}>
                    <th scope="row">{severity}</th>
                    <td className="num">
                      <Link to={`/breaks?state=open&severity=${severity}`}>
                        {breaks.data.data.filter((b) => b.severity === severity).length}
                      </Link>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <table>
              <caption>Difference per currency{breaks.data.has_more ? " (first 100 breaks)" : ""}</caption>
              <thead>
                <tr>
                  <th scope="col">Currency</th>
                  <th scope="col" className="num">Difference</th>
                </tr>
              </thead>
              <tbody>
                {differences(breaks.data.data).map(([currency, total]) => (
                  <tr key={currency}>
                    <th scope="row">{currency}</th>
                    <td className="num">
                      <Link to={`/breaks?state=open&currency=${currency}`}>
                        <Money amount={total} currency={currency} />
                      </Link>
                    </td>
                  </tr>
                ))}
                {breaks.data.data.length === 0 && (
                  <tr>
                    <td colSpan={2} className="muted">No open breaks.</td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
        </section>
      )}

      <OverviewFigures />

      <section aria-labelledby="runs-heading">
        <h2 id="runs-heading">Latest reconciliation runs</h2>
        {runs.isPending ? <Loading what="runs" /> : runs.isError ? <ErrorNote error={runs.error} /> : runs.data.data.length === 0 ? (
          <p className="muted">No reconciliation run yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Partner</th>
                <th scope="col">As of</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {runs.data.data.map((run) => (
                <tr key={run.id}>
                  <td>
                    <code>{run.id}</code>
                  </td>
                  <td>{run.partner ?? "—"}</td>
                  <td>
                    <Time value={run.as_of} />
                  </td>
                  <td>{run.status ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
