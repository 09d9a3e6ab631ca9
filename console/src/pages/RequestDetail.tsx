import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { call, type OperatorRequest } from "../api/client";
import { useSession } from "../api/context";
import { useOperator } from "../api/identity";
import { Money } from "../components/Money";
import { ErrorNote, Loading, Time } from "../components/Status";
import { useAction } from "../operations/useAction";
import { canDecide } from "../operations/work";

const ON_BREAKS = new Set(["write_off", "adjusting_entry"]);

/** One maker-checker request: what it would do, who asked and why; approve or reject it (never one's own). */
export function RequestDetailPage() {
  const { id = "" } = useParams();
  const { client } = useSession();
  const request = useQuery({
    queryKey: ["request", id],
    queryFn: () => call(client.GET("/v1/operator/requests/{id}", { params: { path: { id } } })),
  });
  return (
    <>
      <p><Link to="/approvals">← Approvals</Link></p>
      <h1>Request <code className="wrap">{id}</code></h1>
      {request.isPending ? <Loading what="the request" /> : request.isError ? <ErrorNote error={request.error} /> : (
        <>
          <Facts request={request.data} />
          <Decide request={request.data} />
        </>
      )}
    </>
  );
}

function Facts({ request: r }: { request: OperatorRequest }) {
  return (
    <dl className="facts" data-testid="request-facts">
      <dt>Kind</dt><dd>{r.kind.replace("_", " ")}</dd>
      <dt>Status</dt><dd data-testid="request-status">{r.status}</dd>
      <dt>Target</dt>
      <dd>
        {ON_BREAKS.has(r.kind)
          ? <Link to={`/breaks/${encodeURIComponent(r.target)}`}><code className="wrap">{r.target}</code></Link>
          : <code className="wrap">{r.target}</code>}
      </dd>
      <dt>Amounts</dt>
      <dd>
        {r.amounts ? Object.entries(r.amounts).map(([currency, amount]) => (
          <div key={currency}><Money amount={amount} currency={currency} /></div>
        )) : "—"}
      </dd>
      <dt>Asked by</dt><dd>{r.maker}</dd>
      <dt>Why</dt><dd>{r.reason}</dd>
      <dt>Asked</dt><dd><Time value={r.created_at} /></dd>
      <dt>Expires</dt><dd><Time value={r.expires_at} /></dd>
      <dt>Decided by</dt><dd>{r.checker ?? "—"}{r.decided_at ? <> (<Time value={r.decided_at} />)</> : null}</dd>
      <dt>Decision</dt><dd>{r.decision_reason ?? "—"}</dd>
      <dt>Transactions</dt>
      <dd>{r.transactions.length ? r.transactions.map((t) => <div key={t}><code className="wrap">{t}</code></div>) : "—"}</dd>
    </dl>
  );
}

function Decide({ request }: { request: OperatorRequest }) {
  const { client } = useSession();
  const me = useOperator();
  const [reason, setReason] = useState("");
  const approve = useAction((body: { reason: string | null }, key: string) =>
    call(client.POST("/v1/operator/requests/{id}/approve", {
      params: { path: { id: request.id }, header: { "Idempotency-Key": key } }, body,
    })),
  );
  const reject = useAction((body: { reason: string }, key: string) =>
    call(client.POST("/v1/operator/requests/{id}/reject", {
      params: { path: { id: request.id }, header: { "Idempotency-Key": key } }, body,
    })),
  );
  const decided = approve.data ?? reject.data;
  if (decided) {
    return (
      <div role="status" className="note success" data-testid="request-decided">
        <p>
          {reject.data ? "Rejected: nothing moves." : `Approved: the request is ${decided.status}.`}
          {decided.transactions.length ? <> Posted <code className="wrap">{decided.transactions.join(", ")}</code>.</> : null}
        </p>
      </div>
    );
  }
  if (me.isPending) return <Loading what="who you are" />;
  // without the identity (an older api), offer the buttons and show the API's refusal if it is one's own
  const verdict = me.isError ? { ok: true as const } : canDecide(request, me.data.operator);
  if (!verdict.ok) return <p className="note" data-testid="request-not-decidable">{verdict.why}</p>;
  const busy = approve.isPending || reject.isPending;
  return (
    <form className="work-form decide" aria-labelledby="decide-heading" onSubmit={(e) => e.preventDefault()}>
      <h2 id="decide-heading">Decide</h2>
      <p className="muted">
        Approving executes it at once, as {me.data?.operator ?? "you"}, the second operator. Rejecting needs a reason; nothing moves.
      </p>
      <label htmlFor="decision-reason">Why (kept in the audit log; needed to reject)</label>
      <textarea id="decision-reason" value={reason} maxLength={500} rows={2} onChange={(e) => setReason(e.target.value)} />
      <div className="actions">
        <button type="button" disabled={busy}
          onClick={() => approve.mutate({ reason: reason.trim() || null })}>
          Approve
        </button>
        <button type="button" className="secondary" disabled={busy || !reason.trim()}
          onClick={() => reject.mutate({ reason: reason.trim() })}>
          Reject
        </button>
      </div>
      {approve.error ? <ErrorNote error={approve.error} /> : null}
      {reject.error ? <ErrorNote error={reject.error} /> : null}
    </form>
  );
}
