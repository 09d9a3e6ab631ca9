import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { Money } from "../components/Money";
import { RawEventDisclosure } from "../components/RawEvent";
import { ErrorNote, Loading, Time } from "../components/Status";
import { useAction } from "../operations/useAction";

const KIND_LABEL: Record<string, string> = {
  state_change: "state",
  attempt: "attempt",
  status_query: "status query",
  webhook: "partner webhook",
  ledger: "ledger",
};

/** A payout (GET /v1/operator/payouts/{id}): its facts, the destination masked, and its timeline — state
 * changes, attempts per partner, status queries, the partners' webhooks as they arrived (each opens as its
 * raw event), the ledger transactions it booked — oldest first. */
export function PayoutDetailPage() {
  const { id = "" } = useParams();
  const { client } = useSession();
  const payout = useQuery({
    queryKey: ["payout", id],
    queryFn: () => call(client.GET("/v1/operator/payouts/{id}", { params: { path: { id } } })),
  });
  return (
    <>
      <p><Link to="/payouts">← Payouts</Link></p>
      <h1>Payout <code>{id}</code></h1>
      {payout.isPending ? <Loading what="the payout" /> : payout.isError ? <ErrorNote error={payout.error} /> : (
        <>
          <dl className="facts" data-testid="payout-facts">
            <dt>State</dt><dd data-testid="payout-status">{payout.data.status}{payout.data.attention ? " — needs attention" : ""}</dd>
            <dt>Amount</dt><dd><Money amount={payout.data.amount} currency={payout.data.currency} /></dd>
            <dt>Tenant</dt><dd>{payout.data.tenant ?? "—"}</dd>
            <dt>Customer</dt><dd><Link to={`/accounts/${encodeURIComponent(payout.data.from_account)}`}><code>{payout.data.from_account}</code></Link></dd>
            <dt>Destination</dt>
            <dd>{payout.data.destination.rail} {payout.data.destination.routing_number} <code>{payout.data.destination.account_number}</code> ({payout.data.destination.account_holder})</dd>
            <dt>Partner reference</dt><dd><code>{payout.data.partner_reference ?? "—"}</code></dd>
            <dt>Requested</dt><dd><Time value={payout.data.created} /></dd>
            {payout.data.failure_reason && <><dt>Failure</dt><dd>{payout.data.failure_reason}</dd></>}
          </dl>
          <h2 id="attempts-heading">Attempts per partner</h2>
          <table aria-labelledby="attempts-heading" data-testid="payout-attempts">
            <thead>
              <tr><th scope="col" className="num">#</th><th scope="col">Partner</th><th scope="col">State</th><th scope="col">Reference</th><th scope="col">Started</th><th scope="col">Last error</th></tr>
            </thead>
            <tbody>
              {payout.data.attempts.map((a) => (
                <tr key={a.number}>
                  <td className="num">{a.number}</td><td>{a.partner}</td><td>{a.state}</td>
                  <td><code>{a.partner_reference ?? "—"}</code></td><td><Time value={a.started_at} /></td><td>{a.last_error ?? "—"}</td>
                </tr>
              ))}
              {payout.data.attempts.length === 0 && <tr><td colSpan={6} className="muted">Not submitted to a partner.</td></tr>}
            </tbody>
          </table>
          <h2 id="timeline-heading">Timeline</h2>
          <ol className="timeline" aria-labelledby="timeline-heading" data-testid="payout-timeline">
            {payout.data.items.map((item, n) => (
              <li key={n}>
                <Time value={item.at} /> — <strong>{KIND_LABEL[item.kind] ?? item.kind}</strong>{" "}
                {item.event ? <code>{item.event}</code> : null}
                {item.source && item.target && item.kind === "state_change" ? <> {item.source} → {item.target}</> : null}
                {item.partner ? <> at {item.partner}</> : null}
                {item.attempt ? <> (attempt {item.attempt})</> : null}
                {item.kind === "ledger" && item.target
                  ? <> — <Link to={`/transactions/${encodeURIComponent(item.target)}`}>transaction {item.target}</Link></>
                  : item.detail ? <> — {item.detail}</> : null}
                {item.kind === "webhook" && item.target ? <RawEventDisclosure inboxKey={item.target} /> : null}
              </li>
            ))}
          </ol>
          {payout.data.status === "pending" && <Cancel id={id} />}
        </>
      )}
    </>
  );
}

function Cancel({ id }: { id: string }) {
  const { client } = useSession();
  const [reason, setReason] = useState("");
  const act = useAction((body: { reason: string }, key: string) =>
    call(client.POST("/v1/operator/payouts/{id}/cancel", {
      params: { path: { id }, header: { "Idempotency-Key": key } }, body,
    })),
  );
  return (
    <form className="work-form" aria-labelledby="cancel-heading" onSubmit={(e) => { e.preventDefault(); act.mutate({ reason: reason.trim() }); }}>
      <h2 id="cancel-heading">Cancel it</h2>
      <p className="muted">Only before it is submitted to a partner: the hold on the wallet is released.</p>
      <label htmlFor="cancel-reason">Why cancel it (kept in the audit log)</label>
      <textarea id="cancel-reason" value={reason} required maxLength={1000} rows={2} onChange={(e) => setReason(e.target.value)} />
      <div className="actions"><button type="submit" disabled={!reason.trim() || act.isPending}>Cancel payout</button></div>
      {act.isError && <ErrorNote error={act.error} />}
      {act.data && <p role="status">Canceled: the payout is {act.data.status}.</p>}
    </form>
  );
}
