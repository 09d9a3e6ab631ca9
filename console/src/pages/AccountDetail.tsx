import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { Money } from "../components/Money";
import { Pager } from "../components/Pager";
import { ErrorNote, Loading, Time } from "../components/Status";

/** Any ledger account: balances by currency (now or as of an instant), open holds, entries with running balances. */
export function AccountDetailPage() {
  const { account = "" } = useParams();
  const { client } = useSession();
  const [params, setParams] = useSearchParams();
  const asOf = params.get("as_of") ?? "";
  const after = params.get("after") ?? undefined;
  const [moment, setMoment] = useState(asOf);
  const view = useQuery({
    queryKey: ["operator-account", account, asOf],
    queryFn: () =>
      call(client.GET("/v1/operator/accounts/{account}", {
        params: { path: { account }, query: asOf ? { as_of: asOf } : {} },
      })),
  });
  const entries = useQuery({
    queryKey: ["operator-account-entries", account, after],
    queryFn: () =>
      call(client.GET("/v1/operator/accounts/{account}/entries", {
        params: { path: { account }, query: { limit: 25, ...(after ? { starting_after: after } : {}) } },
      })),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const next = new URLSearchParams(params);
    if (moment.trim()) next.set("as_of", moment.trim());
    else next.delete("as_of");
    setParams(next);
  };
  return (
    <>
      <p><Link to="/accounts">← Accounts</Link></p>
      <h1>Account <code className="wrap">{view.data?.id ?? account}</code></h1>
      {view.isPending ? <Loading what="the account" /> : view.isError ? <ErrorNote error={view.error} /> : (
        <>
          <dl className="facts" data-testid="account-facts">
            <dt>Type</dt><dd>{view.data.type}</dd>
            <dt>Meaning</dt><dd>{view.data.meaning}</dd>
            <dt>Customer</dt><dd>{view.data.customer ?? "—"}</dd>
            <dt>Tenant</dt><dd>{view.data.tenant ?? "—"}</dd>
          </dl>
          <section aria-labelledby="balances-heading">
            <h2 id="balances-heading">Balances{view.data.as_of ? <> as of <Time value={view.data.as_of} /></> : ""}</h2>
            <form onSubmit={submit} className="filters">
              <label htmlFor="as-of">Balance as of (RFC 3339, e.g. 2026-12-01T00:00:00Z)</label>
              <input id="as-of" value={moment} onChange={(e) => setMoment(e.target.value)} />
              <button type="submit">Show</button>
            </form>
            <table data-testid="balances">
              <thead><tr><th scope="col">Currency</th><th scope="col">Posted</th><th scope="col">Pending in</th><th scope="col">Pending out</th><th scope="col">Available</th></tr></thead>
              <tbody>
                {view.data.balances.map((b) => (
                  <tr key={b.currency}>
                    <td>{b.currency}</td>
                    <td><Money amount={b.posted} currency={b.currency} /></td>
                    <td><Money amount={b.pending_in} currency={b.currency} /></td>
                    <td><Money amount={b.pending_out} currency={b.currency} /></td>
                    <td><Money amount={b.available} currency={b.currency} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
            {view.data.balances.length === 0 && <p className="muted">No balance in any currency.</p>}
          </section>
          {view.data.customer && (
            <section aria-labelledby="holds-heading">
              <h2 id="holds-heading">Open holds</h2>
              {view.data.open_holds.length === 0 ? <p className="muted">No open hold.</p> : (
                <ul>
                  {view.data.open_holds.map((h) => (
                    <li key={h.id}>
                      <Link to={`/transactions/${encodeURIComponent(h.id)}`}>{h.id}</Link>: <Money amount={h.remaining} currency={h.currency} /> from {h.from_account} to {h.to_account}, expires <Time value={h.expires_at} />
                    </li>
                  ))}
                </ul>
              )}
            </section>
          )}
        </>
      )}
      <section aria-labelledby="entries-heading">
        <h2 id="entries-heading">Entries</h2>
        {view.data?.sharded && <p className="muted">A sharded system account: running balances are per shard and not shown.</p>}
        {entries.isPending ? <Loading what="the entries" /> : entries.isError ? <ErrorNote error={entries.error} /> : (
          <>
            <table data-testid="entries">
              <thead><tr><th scope="col">Recorded</th><th scope="col">Transaction</th><th scope="col">Direction</th><th scope="col">Phase</th><th scope="col">Amount</th><th scope="col">Posted after</th><th scope="col">Available after</th></tr></thead>
              <tbody>
                {entries.data.data.map((e) => (
                  <tr key={e.id}>
                    <td><Time value={e.recorded_at} /></td>
                    <td><Link to={`/transactions/${encodeURIComponent(e.transaction)}`}><code>{e.transaction}</code></Link></td>
                    <td>{e.direction}</td>
                    <td>{e.phase}</td>
                    <td><Money amount={e.amount} currency={e.currency} /></td>
                    <td><Money amount={e.posted_after} currency={e.currency} /></td>
                    <td><Money amount={e.available_after} currency={e.currency} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
            {entries.data.data.length === 0 && <p className="muted">No entries.</p>}
            <Pager lastId={entries.data.next_starting_after ?? undefined} hasMore={entries.data.has_more} />
          </>
        )}
      </section>
    </>
  );
}
