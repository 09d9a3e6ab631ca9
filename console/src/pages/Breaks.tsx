import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { call, type BreakWork } from "../api/client";
import { useSession } from "../api/context";
import { FilterForm, listCaption, PartnerFilter, SelectFilter } from "../components/Filters";
import { Money } from "../components/Money";
import { Pager, useFilter } from "../components/Pager";
import { ErrorNote, Loading } from "../components/Status";
import { useAction } from "../operations/useAction";
import { untilOfDate } from "../operations/work";

const STATES = ["open", "acknowledged", "resolved", "accepted", "written_off"] as const;
const SEVERITIES = ["low", "medium", "high", "critical"] as const;
type State = (typeof STATES)[number];
type Severity = (typeof SEVERITIES)[number];

export function BreaksPage() {
  const { client } = useSession();
  const [state, setState] = useFilter("state");
  const [severity, setSeverity] = useFilter("severity");
  const [partner, setPartner] = useFilter("partner");
  const [currency] = useFilter("currency");
  const [after] = useFilter("after");
  const query = {
    limit: 25,
    ...(state ? { state: state as State } : {}),
    ...(severity ? { severity: severity as Severity } : {}),
    ...(partner ? { partner } : {}),
    ...(currency ? { currency } : {}),
    ...(after ? { starting_after: after } : {}),
  };
  const list = useQuery({
    queryKey: ["breaks", query],
    queryFn: () => call(client.GET("/v1/operator/breaks", { params: { query } })),
  });
  // the breaks ticked on this page, for one action on all of them (POST /v1/operator/breaks/bulk)
  const [ticked, setTicked] = useState<ReadonlySet<string>>(new Set());
  const toggle = (id: string) =>
    setTicked((now) => {
      const next = new Set(now);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const shown = list.data?.data ?? [];
  const allTicked = shown.length > 0 && shown.every((b) => ticked.has(b.id));

  return (
    <>
      <h1>Reconciliation breaks</h1>
      <FilterForm label="Filter breaks" setPartner={setPartner}>
        <SelectFilter label="State" value={state} onChange={setState} options={STATES} anyLabel="any" />
        <SelectFilter label="Severity" value={severity} onChange={setSeverity} options={SEVERITIES} anyLabel="any" />
        <PartnerFilter value={partner} onChange={setPartner} />
        {currency && <p className="muted">Currency: {currency}</p>}
      </FilterForm>
      {list.isPending ? <Loading what="breaks" /> : list.isError ? <ErrorNote error={list.error} /> : (
        <>
          <table data-testid="breaks">
            <caption>{listCaption(list.data.data.length, "break", list.data.has_more, "oldest first")}</caption>
            <thead>
              <tr>
                <th scope="col">
                  <input type="checkbox" aria-label="Select every break on this page" checked={allTicked}
                    onChange={() => setTicked(allTicked ? new Set() : new Set(shown.map((b) => b.id)))} />
                </th>
                <th scope="col">Opened</th>
                <th scope="col" className="num">Age (days)</th>
                <th scope="col">Partner</th>
                <th scope="col">Reason</th>
                <th scope="col">Severity</th>
                <th scope="col">State</th>
                <th scope="col" className="num">Amount</th>
                <th scope="col" className="num">Difference</th>
                <th scope="col">Reference</th>
                <th scope="col">Assignee</th>
                <th scope="col"><span className="visually-hidden">Work</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((b) => (
                <tr key={b.id} aria-selected={ticked.has(b.id)}>
                  <td>
                    <input type="checkbox" aria-label={`Select break ${b.id}`} checked={ticked.has(b.id)}
                      onChange={() => toggle(b.id)} />
                  </td>
                  <td>{b.opened_on ?? "—"}</td>
                  <td className="num">{b.age_days ?? "—"}</td>
                  <td>{b.partner ?? "—"}</td>
                  <td><code>{b.reason_code ?? "—"}</code></td>
                  <td><span className={`severity ${b.severity ?? ""}`}>{b.severity ?? "—"}</span></td>
                  <td>{b.state.replace("_", " ")}</td>
                  <td className="num"><Money amount={b.amount} currency={b.currency} /></td>
                  <td className="num"><Money amount={b.difference} currency={b.currency} /></td>
                  <td><code className="wrap">{b.reference ?? "—"}</code></td>
                  <td>{b.assignee ?? "—"}</td>
                  <td>
                    <Link to={`/breaks/${encodeURIComponent(b.id)}`}>
                      Work<span className="visually-hidden"> break {b.id}</span>
                    </Link>
                  </td>
                </tr>
              ))}
              {list.data.data.length === 0 && <tr><td colSpan={12} className="muted">No breaks here.</td></tr>}
            </tbody>
          </table>
          <Pager lastId={list.data.data.at(-1)?.id} hasMore={list.data.has_more} />
          {ticked.size > 0 && (
            <BulkPanel breaks={shown.filter((b) => ticked.has(b.id))} />
          )}
        </>
      )}
    </>
  );
}

const BULK_ACTIONS = ["acknowledge", "note", "accept", "write_off"] as const;
type BulkAction = (typeof BULK_ACTIONS)[number];

/** One action on the ticked breaks, each on its own: a dry run says what each would do, then Apply. A
 * write-off of each is a request a second operator approves, as on a break's page. */
function BulkPanel({ breaks }: { breaks: BreakWork[] }) {
  const { client } = useSession();
  const [action, setAction] = useState<BulkAction>("acknowledge");
  const [reason, setReason] = useState("");
  const [day, setDay] = useState("");
  const [checked, setChecked] = useState(false);
  const until = action === "accept" ? untilOfDate(day) : null;
  const send = useAction((dry: boolean, key: string) =>
    call(client.POST("/v1/operator/breaks/bulk", {
      params: { header: { "Idempotency-Key": key } },
      body: { action, break_ids: breaks.map((b) => b.id), reason: reason.trim(), until, dry_run: dry },
    })),
  );
  const ready = reason.trim() !== "" && (action !== "accept" || until !== null);
  const reset = () => { setChecked(false); send.reset(); };
  return (
    <section className="detail" aria-labelledby="bulk-breaks-heading" data-testid="bulk-breaks">
      <h2 id="bulk-breaks-heading">{breaks.length} break{breaks.length === 1 ? "" : "s"} selected</h2>
      <form className="replay" onSubmit={(e) => {
        e.preventDefault();
        send.mutate(!checked, { onSuccess: (answer) => setChecked(answer.dry_run) }); // applied: check again first
      }}>
        <label>
          Action
          <select value={action} onChange={(e) => { setAction(e.target.value as BulkAction); reset(); }}>
            {BULK_ACTIONS.map((a) => <option key={a} value={a}>{a.replace("_", " ")}</option>)}
          </select>
        </label>
        {action === "accept" && (
          <label>
            Accepted until (UTC day)
            <input type="date" value={day} onChange={(e) => { setDay(e.target.value); reset(); }} />
          </label>
        )}
        <label htmlFor="bulk-breaks-reason">Why (kept in the audit log)</label>
        <textarea id="bulk-breaks-reason" value={reason} required maxLength={500} rows={2}
          onChange={(e) => { setReason(e.target.value); reset(); }} />
        {action === "write_off" && <p className="muted">Each write-off is a request a second operator approves.</p>}
        <div className="actions">
          <button type="submit" disabled={!ready || send.isPending}>
            {checked ? `Apply to ${breaks.length}` : "Check (dry run)"}
          </button>
        </div>
      </form>
      {send.isError && <ErrorNote error={send.error} />}
      {send.data && (
        <ul role="status" className="note" data-testid="bulk-breaks-outcomes">
          {send.data.data.map((o) => (
            <li key={o.break_id}>
              <code className="wrap">{o.break_id}</code>: {o.outcome.replace("_", " ")}
              {o.code ? <> (<code>{o.code}</code>)</> : null}
              {o.request_id ? <> — <Link to={`/approvals/${encodeURIComponent(o.request_id)}`}>request {o.request_id}</Link></> : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
