import { useQuery } from "@tanstack/react-query";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { Money } from "../components/Money";
import { useFilter } from "../components/Pager";
import { ErrorNote, Loading, Time } from "../components/Status";

const STATUSES = ["pending", "approved", "rejected", "expired", "executed", "failed"] as const;
type Status = (typeof STATUSES)[number];

/** The maker-checker inbox, read only in this first cut (approving and rejecting: the CLI or the API). */
export function ApprovalsPage() {
  const { client } = useSession();
  const [status, setStatus] = useFilter("status");
  const query = { limit: 100, status: (status || "pending") as Status };
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
            </tr>
          </thead>
          <tbody>
            {list.data.data.map((r) => (
              <tr key={r.id}>
                <td><Time value={r.created_at} /></td>
                <td>{r.kind}</td>
                <td><code className="wrap">{r.target}</code></td>
                <td>{r.maker}</td>
                <td>{r.reason}</td>
                <td className="num">
                  {r.amounts
                    ? Object.entries(r.amounts).map(([currency, amount]) => (
                        <div key={currency}><Money amount={amount} currency={currency} /></div>
                      ))
                    : "—"}
                </td>
                <td><Time value={r.expires_at} /></td>
              </tr>
            ))}
            {list.data.data.length === 0 && <tr><td colSpan={7} className="muted">No requests here.</td></tr>}
          </tbody>
        </table>
      )}
    </>
  );
}
