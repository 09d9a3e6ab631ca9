import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { useOperator } from "../api/identity";
import { Money } from "../components/Money";
import { Pager, useFilter } from "../components/Pager";
import { ErrorNote, Loading, Time } from "../components/Status";

const STATUSES = ["pending", "approved", "rejected", "expired", "executed", "failed"] as const;
type Status = (typeof STATUSES)[number];

/** The maker-checker inbox: each request opens on its own page, where another operator decides it. */
export function ApprovalsPage() {
  const { client } = useSession();
  const me = useOperator().data?.operator;
  const [status, setStatus] = useFilter("status");
  const [after] = useFilter("after");
  const query = { limit: 50, status: (status || "pending") as Status, ...(after ? { starting_after: after } : {}) };
  const list = useQuery({
    queryKey: ["requests", query],
    queryFn: () => call(client.GET("/v1/operator/requests", { params: { query } })),
  });
  return (
    <>
      <h1>Approvals</h1>
      <form className="filters" aria-label="Filter requests" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={status || "pending"} onChange={(e) => setStatus(e.target.value)}>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
      </form>
      {list.isPending ? <Loading what="requests" /> : list.isError ? <ErrorNote error={list.error} /> : (
        <table data-testid="requests">
          <caption>{list.data.data.length}{list.data.has_more ? "+" : ""} {query.status} requests, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Created</th>
              <th scope="col">Kind</th>
              <th scope="col">Target</th>
              <th scope="col">Maker</th>
              <th scope="col">Reason</th>
              <th scope="col" className="num">Amounts</th>
              <th scope="col">Expires</th>
              <th scope="col"><span className="visually-hidden">Open</span></th>
            </tr>
          </thead>
          <tbody>
            {list.data.data.map((r) => (
              <tr key={r.id}>
                <td><Time value={r.created_at} /></td>
                <td>{r.kind}</td>
                <td><code className="wrap">{r.target}</code></td>
                <td>{r.maker}{me && r.maker === me ? <span className="muted"> (you)</span> : null}</td>
                <td>{r.reason}</td>
                <td className="num">
                  {r.amounts
                    ? Object.entries(r.amounts).map(([currency, amount]) => (
                        <div key={currency}><Money amount={amount} currency={currency} /></div>
                      ))
                    : "—"}
                </td>
                <td><Time value={r.expires_at} /></td>
                <td>
                  <Link to={`/approvals/${encodeURIComponent(r.id)}`}>
                    Open<span className="visually-hidden"> request {r.id}</span>
                  </Link>
                </td>
              </tr>
            ))}
            {list.data.data.length === 0 && <tr><td colSpan={8} className="muted">No requests here.</td></tr>}
          </tbody>
        </table>
      )}
      {list.data && <Pager lastId={list.data.data.at(-1)?.id} hasMore={list.data.has_more} />}
    </>
  );
}
