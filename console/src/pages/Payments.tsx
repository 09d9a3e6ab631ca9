import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { listCaption, SelectFilter } from "../components/Filters";
import { Money } from "../components/Money";
import { Pager, useFilter } from "../components/Pager";
import { ErrorNote, Loading, Time } from "../components/Status";

const PAYMENT_STATES = ["processing", "succeeded", "failed"] as const;
type PaymentState = (typeof PAYMENT_STATES)[number];

/** Every tenant's card pay-ins, newest first (GET /v1/operator/payments): state filter, cursor pages. */
export function PaymentsPage() {
  const { client } = useSession();
  const [status, setStatus] = useFilter("status");
  const [after] = useFilter("after");
  const query = {
    limit: 25,
    ...(status ? { status: status as PaymentState } : {}),
    ...(after ? { starting_after: after } : {}),
  };
  const list = useQuery({
    queryKey: ["payments", query],
    queryFn: () => call(client.GET("/v1/operator/payments", { params: { query } })),
  });
  return (
    <>
      <h1>Pay-ins</h1>
      <form className="filters" aria-label="Filter pay-ins" onSubmit={(e) => e.preventDefault()}>
        <SelectFilter label="State" value={status} onChange={setStatus} options={PAYMENT_STATES} anyLabel="any" />
      </form>
      {list.isPending ? <Loading what="pay-ins" /> : list.isError ? <ErrorNote error={list.error} /> : (
        <>
          <table data-testid="payments">
            <caption>{listCaption(list.data.data.length, "pay-in", list.data.has_more, "newest first")}</caption>
            <thead>
              <tr>
                <th scope="col">Requested</th>
                <th scope="col">Tenant</th>
                <th scope="col">Customer</th>
                <th scope="col" className="num">Amount</th>
                <th scope="col" className="num">Refunded</th>
                <th scope="col">State</th>
                <th scope="col">Processor</th>
                <th scope="col"><span className="visually-hidden">Open</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((p) => (
                <tr key={p.id}>
                  <td><Time value={p.created} /></td>
                  <td>{p.tenant ?? "—"}</td>
                  <td><code>{p.customer}</code></td>
                  <td className="num"><Money amount={p.amount} currency={p.currency} /></td>
                  <td className="num">{p.amount_refunded ? <Money amount={p.amount_refunded} currency={p.currency} /> : "—"}</td>
                  <td>{p.status}</td>
                  <td>{p.processor}</td>
                  <td>
                    <Link to={`/payments/${encodeURIComponent(p.id)}`}>
                      Open<span className="visually-hidden"> pay-in {p.id}</span>
                    </Link>
                  </td>
                </tr>
              ))}
              {list.data.data.length === 0 && <tr><td colSpan={8} className="muted">No pay-ins here.</td></tr>}
            </tbody>
          </table>
          <Pager lastId={list.data.data.at(-1)?.id} hasMore={list.data.has_more} />
        </>
      )}
    </>
  );
}
