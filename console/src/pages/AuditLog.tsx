import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { Pager, useFilter, useSetFilters } from "../components/Pager";
import { ErrorNote, Loading, Time } from "../components/Status";
import { auditQuery } from "../operations/work";

/** The operator audit log (GET /v1/audit-log): who did what, when and why; newest first, cursor pages. */
export function AuditLogPage() {
  const { client } = useSession();
  const [actor] = useFilter("actor");
  const [action] = useFilter("action");
  const [target] = useFilter("target");
  const setFilters = useSetFilters();
  const [fromDay] = useFilter("from");
  const [toDay] = useFilter("to");
  const [after] = useFilter("after");
  const query = auditQuery({ actor, action, target, after, fromDay, toDay });
  const list = useQuery({
    queryKey: ["audit-log", query],
    queryFn: () => call(client.GET("/v1/audit-log", { params: { query } })),
  });

  return (
    <>
      <h1>Audit log</h1>
      <form
        className="filters"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          const form = new FormData(e.currentTarget);
          const text = (name: string) => String(form.get(name) ?? "").trim();
          setFilters({
            actor: text("actor"), action: text("action"), target: text("target"), from: text("from"), to: text("to"),
          });
        }}
      >
        <label>
          Actor
          <input name="actor" defaultValue={actor} key={`actor-${actor}`} placeholder="ana@example.com" />
        </label>
        <label>
          Action
          <input name="action" defaultValue={action} key={`action-${action}`} placeholder="e.g. request:write_off" />
        </label>
        <label>
          Target
          <input name="target" defaultValue={target} key={`target-${target}`} placeholder="a break, transaction…" />
        </label>
        <label>
          From (UTC day)
          <input name="from" type="date" defaultValue={fromDay} key={`from-${fromDay}`} />
        </label>
        <label>
          To (UTC day, inclusive)
          <input name="to" type="date" defaultValue={toDay} key={`to-${toDay}`} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <p className="muted">
        Filters match exactly (the API's <code>actor</code>, <code>action</code>, <code>target</code>); the days
        bound the entries' times in UTC (the API's <code>from</code> / <code>to</code>). Pages go back in time, newest
        first.
      </p>
      {list.isPending ? <Loading what="the audit log" /> : list.isError ? <ErrorNote error={list.error} /> : (
        <>
          <table data-testid="audit-log">
            <caption>
              {list.data.data.length} entr{list.data.data.length === 1 ? "y" : "ies"}
              {list.data.has_more ? " (more on the next page)" : ""}, newest first
            </caption>
            <thead>
              <tr>
                <th scope="col" className="num">Seq</th>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Why</th>
                <th scope="col">Request</th>
                <th scope="col">Approved by</th>
                <th scope="col">Transactions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((e) => (
                <tr key={e.seq}>
                  <td className="num">{e.seq}</td>
                  <td><Time value={e.at} /></td>
                  <td>{e.actor}</td>
                  <td><code>{e.action}</code></td>
                  <td><code className="wrap">{e.target}</code></td>
                  <td>{e.reason}</td>
                  <td>
                    {e.request_id
                      ? <Link to={`/approvals/${encodeURIComponent(e.request_id)}`}><code>{e.request_id}</code></Link>
                      : "—"}
                  </td>
                  <td>{e.approved_by ?? "—"}</td>
                  <td>{e.transactions.length ? e.transactions.map((t) => <div key={t}><code className="wrap">{t}</code></div>) : "—"}</td>
                </tr>
              ))}
              {list.data.data.length === 0 && <tr><td colSpan={9} className="muted">No entries here.</td></tr>}
            </tbody>
          </table>
          <Pager lastId={list.data.data.at(-1)?.seq.toString()} hasMore={list.data.has_more} />
        </>
      )}
    </>
  );
}
