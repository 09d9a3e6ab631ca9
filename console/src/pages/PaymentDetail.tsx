import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { Money } from "../components/Money";
import { RawEventDisclosure } from "../components/RawEvent";
import { ErrorNote, Loading, Time } from "../components/Status";

/** A pay-in (GET /v1/operator/payments/{id}): its facts, its refunds, its timeline, the processor's webhooks
 * about it and its refunds (each opens as its raw event), and the ledger transactions it and its refunds
 * booked (each linked to its transaction page, which links back). */
export function PaymentDetailPage() {
  const { id = "" } = useParams();
  const { client } = useSession();
  const payment = useQuery({
    queryKey: ["payment", id],
    queryFn: () => call(client.GET("/v1/operator/payments/{id}", { params: { path: { id } } })),
  });
  return (
    <>
      <p><Link to="/payments">← Pay-ins</Link></p>
      <h1>Pay-in <code>{id}</code></h1>
      {payment.isPending ? <Loading what="the pay-in" /> : payment.isError ? <ErrorNote error={payment.error} /> : (
        <>
          <dl className="facts" data-testid="payment-facts">
            <dt>State</dt><dd data-testid="payment-status">{payment.data.status}</dd>
            <dt>Amount</dt><dd><Money amount={payment.data.amount} currency={payment.data.currency} /></dd>
            <dt>Refunded</dt><dd><Money amount={payment.data.amount_refunded} currency={payment.data.currency} /></dd>
            <dt>Tenant</dt><dd>{payment.data.tenant ?? "—"}</dd>
            <dt>Customer</dt><dd><Link to={`/accounts/${encodeURIComponent(payment.data.customer)}`}><code>{payment.data.customer}</code></Link></dd>
            <dt>Processor</dt><dd>{payment.data.processor} <code>{payment.data.processor_reference ?? "—"}</code></dd>
            <dt>Payment method</dt><dd><code>{payment.data.payment_method}</code></dd>
            <dt>Requested</dt><dd><Time value={payment.data.created} /></dd>
            {payment.data.failure_reason && <><dt>Failure</dt><dd>{payment.data.failure_reason}</dd></>}
          </dl>
          <h2 id="refunds-heading">Refunds</h2>
          <table aria-labelledby="refunds-heading" data-testid="payment-refunds">
            <thead>
              <tr><th scope="col">Requested</th><th scope="col">Refund</th><th scope="col" className="num">Amount</th><th scope="col">State</th><th scope="col">Failure</th></tr>
            </thead>
            <tbody>
              {payment.data.refunds.map((r) => (
                <tr key={r.id}>
                  <td><Time value={r.created} /></td><td><code>{r.id}</code></td>
                  <td className="num"><Money amount={r.amount} currency={r.currency} /></td><td>{r.status}</td><td>{r.failure_reason ?? "—"}</td>
                </tr>
              ))}
              {payment.data.refunds.length === 0 && <tr><td colSpan={5} className="muted">No refunds.</td></tr>}
            </tbody>
          </table>
          <h2 id="payment-timeline-heading">Timeline</h2>
          <ol className="timeline" aria-labelledby="payment-timeline-heading" data-testid="payment-timeline">
            {payment.data.timeline.map((t, n) => (
              <li key={n}><Time value={t.at} /> — <code>{t.event}</code> {t.source ?? "created"} → {t.target}{t.detail ? <> — {t.detail}</> : null}</li>
            ))}
          </ol>
          <h2 id="payment-webhooks-heading">Processor webhooks</h2>
          <ol className="timeline" aria-labelledby="payment-webhooks-heading" data-testid="payment-webhooks">
            {payment.data.webhooks.map((h) => (
              <li key={h.key}>
                <Time value={h.received_at} /> — <code>{h.type}</code> about <code>{h.record}</code> ({h.verdict})
                {h.detail ? <> — {h.detail}</> : null}
                <RawEventDisclosure inboxKey={h.key} />
              </li>
            ))}
            {payment.data.webhooks.length === 0 && <li className="muted">None stored about it (yet).</li>}
          </ol>
          <h2 id="payment-ledger-heading">Ledger transactions</h2>
          <ul aria-labelledby="payment-ledger-heading" data-testid="payment-transactions">
            {payment.data.transactions.map((t) => (
              <li key={t.transaction}>
                <Time value={t.recorded_at} /> — <strong>{t.effect}</strong> of <code>{t.record}</code>:{" "}
                <Link to={`/transactions/${encodeURIComponent(t.transaction)}`}>transaction {t.transaction}</Link>
              </li>
            ))}
            {payment.data.transactions.length === 0 && <li className="muted">Nothing booked yet (the wallet moves on the processor's webhook).</li>}
          </ul>
        </>
      )}
    </>
  );
}
