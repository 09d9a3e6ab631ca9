import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { Money } from "../components/Money";
import { RawEventView } from "../components/RawEvent";
import { ErrorNote, Loading, Time } from "../components/Status";

/** Where a transaction's link leads in the console; null: no page for it (a fee booking, a refund: its
 * pay-in's page lists it). */
export function linkTarget(kind: string, id: string): string | null {
  const at = encodeURIComponent(id);
  if (kind === "break") return `/breaks/${at}`;
  if (kind === "payout") return `/payouts/${at}`;
  if (kind === "payment") return `/payments/${at}`;
  if (kind === "reverses" || kind === "reversed_by" || kind === "hold") return `/transactions/${at}`;
  return null;
}

/** A transaction: every entry on every account, its links, and the raw partner event it posts. */
export function TransactionDetailPage() {
  const { id = "" } = useParams();
  const { client } = useSession();
  const t = useQuery({
    queryKey: ["operator-transaction", id],
    queryFn: () => call(client.GET("/v1/operator/transactions/{id}", { params: { path: { id } } })),
  });
  return (
    <>
      <p><Link to="/accounts">← Accounts</Link></p>
      <h1>Transaction <code className="wrap">{id}</code></h1>
      {t.isPending ? <Loading what="the transaction" /> : t.isError ? <ErrorNote error={t.error} /> : (
        <>
          <dl className="facts" data-testid="transaction-facts">
            <dt>Kind</dt><dd>{t.data.kind}</dd>
            <dt>Rule</dt><dd><code>{t.data.rule}</code></dd>
            <dt>Partner</dt><dd>{t.data.partner ?? "—"}</dd>
            <dt>Event</dt><dd><code className="wrap">{t.data.event_id ?? "—"}</code></dd>
            <dt>Effective</dt><dd><Time value={t.data.effective_at} /></dd>
            <dt>Recorded</dt><dd><Time value={t.data.recorded_at} /></dd>
          </dl>
          <section aria-labelledby="entries-heading">
            <h2 id="entries-heading">Entries</h2>
            <table data-testid="transaction-entries">
              <thead><tr><th scope="col">Account</th><th scope="col">Direction</th><th scope="col">Phase</th><th scope="col">Amount</th></tr></thead>
              <tbody>
                {t.data.entries.map((e) => (
                  <tr key={e.id}>
                    <td><Link to={`/accounts/${encodeURIComponent(e.account)}`}><code>{e.account}</code></Link></td>
                    <td>{e.direction}</td>
                    <td>{e.phase}</td>
                    <td><Money amount={e.amount} currency={e.currency} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <section aria-labelledby="links-heading">
            <h2 id="links-heading">Links</h2>
            {t.data.links.length === 0 ? <p className="muted">No reversal, hold or break links.</p> : (
              <ul data-testid="transaction-links">
                {t.data.links.map((l) => (
                  <li key={`${l.kind}:${l.id}`}>
                    {l.kind.replace("_", " ")}: {(() => { const to = linkTarget(l.kind, l.id); return to ? <Link to={to}>{l.id}</Link> : <code>{l.id}</code>; })()}
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section aria-labelledby="raw-heading">
            <h2 id="raw-heading">Raw partner event</h2>
            {!t.data.raw_event ? <p className="muted">No partner event in the intake inbox for this transaction.</p> : (
              <RawEventView raw={t.data.raw_event} />
            )}
          </section>
        </>
      )}
    </>
  );
}
