import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent, type ReactNode } from "react";
import { Link, useParams } from "react-router";
import { call, type BreakWork, type ManualMatch, type OperatorRequest, type Schemas } from "../api/client";
import { useSession } from "../api/context";
import { useOperator } from "../api/identity";
import { Money } from "../components/Money";
import { ErrorNote, Loading, Time } from "../components/Status";
import { formatMinor } from "../money/money";
import { breakActions, checkLegs, legReadsAs, pendingFor, undoableMatch, untilOfDate, type LegField, type LegRow } from "../operations/work";
import { useAction } from "../operations/useAction";

/** One break: its facts, its history and notes, and the work on it (docs/operations.md, "A break's work"). */
export function BreakDetailPage() {
  const { id = "" } = useParams();
  const { client } = useSession();
  const me = useOperator();
  const work = useQuery({
    queryKey: ["break", id],
    queryFn: () => call(client.GET("/v1/operator/breaks/{id}", { params: { path: { id } } })),
  });
  const pending = useQuery({
    queryKey: ["requests", { status: "pending", limit: 100 }],
    queryFn: () => call(client.GET("/v1/operator/requests", { params: { query: { status: "pending", limit: 100 } } })),
  });

  return (
    <>
      <p><Link to="/breaks">← Reconciliation breaks</Link></p>
      <h1>Break <code className="wrap">{id}</code></h1>
      {work.isPending ? <Loading what="the break" /> : work.isError ? <ErrorNote error={work.error} /> : (
        <>
          <Facts work={work.data} />
          {pending.data && <Pending requests={pendingFor(pending.data.data, id)} />}
          <Actions work={work.data} me={me.data?.operator ?? null} />
          <History work={work.data} />
        </>
      )}
    </>
  );
}

function Facts({ work }: { work: BreakWork }) {
  return (
    <dl className="facts" data-testid="break-facts">
      <dt>State</dt><dd data-testid="break-state">{work.state.replace("_", " ")}</dd>
      <dt>Assignee</dt><dd>{work.assignee ?? "—"}</dd>
      <dt>Partner</dt><dd>{work.partner ?? "—"}{work.leg ? ` (${work.leg})` : ""}</dd>
      <dt>Reason</dt><dd><code>{work.reason_code ?? "—"}</code></dd>
      <dt>Severity</dt><dd><span className={`severity ${work.severity ?? ""}`}>{work.severity ?? "—"}</span></dd>
      <dt>Amount</dt><dd><Money amount={work.amount} currency={work.currency} /></dd>
      <dt>Difference</dt><dd><Money amount={work.difference} currency={work.currency} /></dd>
      <dt>Reference</dt><dd><code className="wrap">{work.reference ?? "—"}</code>{work.side ? ` (${work.side})` : ""}</dd>
      <dt>Opened</dt><dd>{work.opened_on ?? "—"}{work.age_days !== null ? ` (${work.age_days} days)` : ""}</dd>
      <dt>Latest run</dt><dd>{work.run_status === "closed" ? "no longer finds it" : work.run_status === "open" ? "still finds it" : "—"}</dd>
      {work.accepted_until && <><dt>Accepted until</dt><dd><Time value={work.accepted_until} /></dd></>}
    </dl>
  );
}

function Pending({ requests }: { requests: OperatorRequest[] }) {
  if (requests.length === 0) return null;
  return (
    <div className="note" role="status" data-testid="break-pending">
      {requests.map((r) => (
        <p key={r.id}>
          A <strong>{r.kind.replace("_", " ")}</strong> asked by {r.maker} waits for a second operator:{" "}
          <Link to={`/approvals/${encodeURIComponent(r.id)}`}>request {r.id}</Link>.
        </p>
      ))}
    </div>
  );
}

function Actions({ work, me }: { work: BreakWork; me: string | null }) {
  const offered = breakActions(work, me);
  return (
    <section aria-labelledby="work-heading" className="detail">
      <h2 id="work-heading">Work this break</h2>
      <p className="muted">
        Acknowledge (take) a break before accepting, matching, adjusting or writing it off. A write-off moves
        money: it becomes a request that <strong>a second operator approves</strong> in Approvals; so does an
        adjusting entry at or above the currency&apos;s threshold. Accepting, matching, notes and acknowledging
        take effect at once. Everything is kept in the audit log.
      </p>
      <div className="work-forms">
        {offered.has("acknowledge") && <Acknowledge work={work} />}
        {offered.has("write_off") && <WriteOff work={work} />}
        {offered.has("accept") && <Accept work={work} />}
        {offered.has("manual_match") && <Match work={work} />}
        {undoableMatch(work) && <UndoMatch work={work} match={undoableMatch(work) ?? ""} />}
        <Note work={work} />
        {offered.has("adjust") && <Adjust work={work} />}
      </div>
    </section>
  );
}

/** One action's form: a heading, its fields, its button, its error or outcome where it happened. */
function ActionForm(props: {
  id: string; title: string; submit: string; busy: boolean; disabled?: boolean;
  onSubmit: () => void; error: unknown; done: ReactNode; children?: ReactNode; hint?: ReactNode; wide?: boolean;
}) {
  function submit(event: FormEvent) {
    event.preventDefault();
    props.onSubmit();
  }
  return (
    <form className={props.wide ? "work-form wide" : "work-form"} aria-labelledby={`${props.id}-heading`} onSubmit={submit}>
      <h3 id={`${props.id}-heading`}>{props.title}</h3>
      {props.hint && <p className="muted">{props.hint}</p>}
      {props.children}
      <div className="actions">
        <button type="submit" disabled={props.busy || props.disabled}>{props.busy ? "Working…" : props.submit}</button>
      </div>
      {props.error ? <ErrorNote error={props.error} /> : null}
      {props.done ? <div role="status" className="note success">{props.done}</div> : null}
    </form>
  );
}

function Acknowledge({ work }: { work: BreakWork }) {
  const { client } = useSession();
  const [reason, setReason] = useState("");
  const act = useAction((body: { reason: string | null }, key: string) =>
    call(client.POST("/v1/operator/breaks/{id}/acknowledge", {
      params: { path: { id: work.id }, header: { "Idempotency-Key": key } }, body,
    })),
  );
  const taken = work.state === "acknowledged";
  return (
    <ActionForm id="ack" title={taken ? "Take it over" : "Acknowledge"} submit={taken ? "Take it over" : "Acknowledge"}
      busy={act.isPending} error={act.error}
      done={act.data && <p>Acknowledged: assigned to {act.data.assignee}.</p>}
      onSubmit={() => act.mutate({ reason: reason.trim() || null })}
      hint={taken ? `Assigned to ${work.assignee ?? "nobody"}.` : "Assigns the break to you."}>
      <label htmlFor="ack-reason">Why (optional)</label>
      <input id="ack-reason" value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} />
    </ActionForm>
  );
}

function WriteOff({ work }: { work: BreakWork }) {
  const { client } = useSession();
  const [reason, setReason] = useState("");
  const act = useAction((body: { reason: string }, key: string) =>
    call(client.POST("/v1/operator/breaks/{id}/write-off", {
      params: { path: { id: work.id }, header: { "Idempotency-Key": key } }, body,
    })),
  );
  const request = act.data;
  return (
    <ActionForm id="write-off" title="Write off" submit="Ask to write off" busy={act.isPending} error={act.error}
      disabled={!reason.trim()} onSubmit={() => act.mutate({ reason: reason.trim() })}
      hint={<>Books the difference (<Money amount={work.difference} currency={work.currency} />) to <code>write_off:{work.partner ?? "…"}</code>. Always approved by a second operator.</>}
      done={request && (
        <p data-testid="write-off-requested">
          Write-off asked: <Link to={`/approvals/${encodeURIComponent(request.id)}`}>request {request.id}</Link>{" "}
          {request.status === "pending" ? "waits for a second operator's approval." : `is ${request.status}.`}
        </p>
      )}>
      <label htmlFor="write-off-reason">Why write it off (kept in the audit log)</label>
      <textarea id="write-off-reason" value={reason} required maxLength={500} rows={2}
        onChange={(e) => setReason(e.target.value)} />
    </ActionForm>
  );
}

function Accept({ work }: { work: BreakWork }) {
  const { client } = useSession();
  const [reason, setReason] = useState("");
  const [date, setDate] = useState("");
  const until = untilOfDate(date);
  const act = useAction((body: { reason: string; until: string }, key: string) =>
    call(client.POST("/v1/operator/breaks/{id}/accept", {
      params: { path: { id: work.id }, header: { "Idempotency-Key": key } }, body,
    })),
  );
  return (
    <ActionForm id="accept" title="Accept for now" submit="Accept" busy={act.isPending} error={act.error}
      disabled={!reason.trim() || until === null}
      onSubmit={() => until && act.mutate({ reason: reason.trim(), until })}
      hint="A known difference, accepted until a date (then it reopens; another reason or amount reopens it sooner)."
      done={act.data && <p>Accepted until <Time value={act.data.accepted_until} />.</p>}>
      <label htmlFor="accept-reason">Why accept it</label>
      <textarea id="accept-reason" value={reason} required maxLength={500} rows={2} onChange={(e) => setReason(e.target.value)} />
      <label htmlFor="accept-until">Accepted until (start of the day, UTC)</label>
      <input id="accept-until" type="date" value={date} required onChange={(e) => setDate(e.target.value)} />
    </ActionForm>
  );
}

function Match({ work }: { work: BreakWork }) {
  const { client } = useSession();
  const [counterpart, setCounterpart] = useState("");
  const [reason, setReason] = useState("");
  const act = useAction((body: { counterpart: string; reason: string }, key: string) =>
    call(client.POST("/v1/operator/breaks/{id}/manual-match", {
      params: { path: { id: work.id }, header: { "Idempotency-Key": key } }, body,
    })),
  );
  const match: ManualMatch | undefined = act.data;
  return (
    <ActionForm id="match" title="Manual match" submit="Match" busy={act.isPending} error={act.error}
      disabled={!counterpart.trim() || !reason.trim()}
      onSubmit={() => act.mutate({ counterpart: counterpart.trim(), reason: reason.trim() })}
      hint="Pairs this row with the counterpart the matching did not pair; later runs keep the pair."
      done={match && <p>Matched: <code>{match.left}</code> ↔ <code>{match.right}</code> (match <code>{match.id}</code>).</p>}>
      <label htmlFor="match-counterpart">Counterpart (a ledger transaction id, or the partner's reference)</label>
      <input id="match-counterpart" value={counterpart} required maxLength={200} onChange={(e) => setCounterpart(e.target.value)} />
      <label htmlFor="match-reason">Why match them</label>
      <textarea id="match-reason" value={reason} required maxLength={500} rows={2} onChange={(e) => setReason(e.target.value)} />
    </ActionForm>
  );
}

/** The accounts an adjusting entry usually moves for this break (a missing fee, the partner's clearing,
 * suspense): suggestions only, any account of the chart may be typed (never a customer's wallet). */
function suggestedAccounts(work: BreakWork): string[] {
  const partner = work.partner;
  return [...(partner ? [`fees:${partner}`, `partner:${partner}:clearing`, `write_off:${partner}`] : []), "suspense"];
}

type AdjustRequest = Schemas["AdjustRequest"];

function Adjust({ work }: { work: BreakWork }) {
  const { client } = useSession();
  const currency = work.currency ?? "";
  const difference = work.difference === null || work.difference === undefined || !currency ? "" :
    formatMinor(work.difference < 0 ? -work.difference : work.difference, currency);
  const blank = (direction: LegRow["direction"]): LegRow => ({ account: "", direction, amount: difference, currency });
  const [rows, setRows] = useState<LegRow[]>([blank("debit"), blank("credit")]);
  const [reason, setReason] = useState("");
  const [resolve, setResolve] = useState(true);
  const checked = checkLegs(rows);
  const act = useAction((body: AdjustRequest, key: string) =>
    call(client.POST("/v1/operator/breaks/{id}/adjustments", {
      params: { path: { id: work.id }, header: { "Idempotency-Key": key } }, body,
    })),
  );
  const set = (n: number, change: Partial<LegRow>) => setRows(rows.map((r, i) => (i === n ? { ...r, ...change } : r)));
  const request = act.data;
  const touched = rows.some((r) => r.account.trim());
  // the wrong input (not its row) is marked invalid and described by the message, read out as it changes
  const wrong = (n: number, field: LegField) =>
    touched && !checked.ok && checked.row === n && checked.field === field
      ? { "aria-invalid": true as const, "aria-describedby": "adjust-check" } : {};
  const status = !touched
    ? "Name each leg's account to begin; the request can be sent once the legs balance and a reason is given."
    : checked.ok ? (reason.trim() ? "The legs balance." : "The legs balance; say why to send the request.") : checked.why;
  return (
    <ActionForm id="adjust" title="Adjusting entry" submit="Ask for the adjusting entry" busy={act.isPending} error={act.error} wide
      disabled={!checked.ok || !reason.trim()}
      onSubmit={() => checked.ok && act.mutate({ reason: reason.trim(), legs: checked.legs, resolve })}
      hint="Your own legs on accounts of the chart (a missing fee, a move to suspense…), balanced in every currency; never a customer's wallet (that is a manual transfer). Below the currency's threshold it posts at once; at or above it, a second operator approves it."
      done={request && (
        <p data-testid="adjust-requested">
          Adjusting entry: <Link to={`/approvals/${encodeURIComponent(request.id)}`}>request {request.id}</Link>{" "}
          {request.status === "pending" ? "waits for a second operator's approval." : `is ${request.status}.`}
        </p>
      )}>
      <datalist id="adjust-accounts">{suggestedAccounts(work).map((a) => <option key={a} value={a} />)}</datalist>
      <table className="legs" data-testid="adjust-legs">
        <caption className="muted">Legs (amounts in {currency || "the currency"}&apos;s major units, e.g. 12.34)</caption>
        <thead>
          <tr><th scope="col">Account</th><th scope="col">Direction</th><th scope="col" className="num">Amount</th><th scope="col">Currency</th>
            <th scope="col" className="num">Posts as</th><th scope="col"><span className="visually-hidden">Remove</span></th></tr>
        </thead>
        <tbody>
          {rows.map((row, n) => (
            <tr key={n}>
              <td><input aria-label={`Leg ${n + 1} account`} list="adjust-accounts" value={row.account} maxLength={200}
                {...wrong(n, "account")} onChange={(e) => set(n, { account: e.target.value })} /></td>
              <td><select aria-label={`Leg ${n + 1} direction`} value={row.direction}
                onChange={(e) => set(n, { direction: e.target.value === "credit" ? "credit" : "debit" })}>
                <option value="debit">debit</option><option value="credit">credit</option>
              </select></td>
              <td className="num"><input aria-label={`Leg ${n + 1} amount`} inputMode="decimal" value={row.amount} size={12}
                {...wrong(n, "amount")} onChange={(e) => set(n, { amount: e.target.value })} /></td>
              <td><input aria-label={`Leg ${n + 1} currency`} value={row.currency} size={4} maxLength={3}
                {...wrong(n, "currency")} onChange={(e) => set(n, { currency: e.target.value })} /></td>
              <td className="num" data-testid={`adjust-leg-${n + 1}-posts`}>{legReadsAs(row) ?? "—"}</td>
              <td><button type="button" className="link" disabled={rows.length <= 2}
                onClick={() => setRows(rows.filter((_, i) => i !== n))}>Remove leg {n + 1}</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="actions">
        <button type="button" disabled={rows.length >= 20} onClick={() => setRows([...rows, blank("debit")])}>Add a leg</button>
      </div>
      <p className="muted" id="adjust-check" role="status" aria-live="polite" data-testid="adjust-check">{status}</p>
      <label htmlFor="adjust-reason">Why (kept in the audit log)</label>
      <textarea id="adjust-reason" value={reason} required maxLength={500} rows={2} onChange={(e) => setReason(e.target.value)} />
      <label className="inline"><input type="checkbox" checked={resolve} onChange={(e) => setResolve(e.target.checked)} />{" "}
        It resolves the break once posted</label>
    </ActionForm>
  );
}

function UndoMatch({ work, match }: { work: BreakWork; match: string }) {
  const { client } = useSession();
  const [reason, setReason] = useState("");
  const act = useAction((body: { reason: string }, key: string) =>
    call(client.POST("/v1/operator/manual-matches/{id}/undo", {
      params: { path: { id: match }, header: { "Idempotency-Key": key } }, body,
    })),
  );
  return (
    <ActionForm id="undo-match" title="Undo the manual match" submit="Undo match" busy={act.isPending} error={act.error}
      disabled={!reason.trim()} onSubmit={() => act.mutate({ reason: reason.trim() })}
      hint={<>Match <code>{match}</code> resolved {work.id}. Undoing it keeps it as history; the break opens again and
        the next run reconciles its rows by the cascade.</>}
      done={act.data && <p>Undone: match <code>{act.data.id}</code> is {act.data.status}.</p>}>
      <label htmlFor="undo-reason">Why undo it (kept in the audit log)</label>
      <textarea id="undo-reason" value={reason} required maxLength={500} rows={2} onChange={(e) => setReason(e.target.value)} />
    </ActionForm>
  );
}

function Note({ work }: { work: BreakWork }) {
  const { client } = useSession();
  const [text, setText] = useState("");
  const [reference, setReference] = useState("");
  const act = useAction((body: { text: string; reference: string | null }, key: string) =>
    call(client.POST("/v1/operator/breaks/{id}/notes", {
      params: { path: { id: work.id }, header: { "Idempotency-Key": key } }, body,
    })),
  );
  return (
    <ActionForm id="note" title="Note" submit="Add note" busy={act.isPending} error={act.error} disabled={!text.trim()}
      onSubmit={() => act.mutate({ text: text.trim(), reference: reference.trim() || null },
        { onSuccess: () => { setText(""); setReference(""); } })}
      done={act.isSuccess && <p>Note added.</p>}>
      <label htmlFor="note-text">Your note</label>
      <textarea id="note-text" value={text} required maxLength={500} rows={2} onChange={(e) => setText(e.target.value)} />
      <label htmlFor="note-reference">Reference (optional: a ticket, a gs:// path, a partner case id)</label>
      <input id="note-reference" value={reference} maxLength={500} onChange={(e) => setReference(e.target.value)} />
    </ActionForm>
  );
}

function History({ work }: { work: BreakWork }) {
  return (
    <>
      <h2>History</h2>
      <table data-testid="break-history">
        <caption>Every step, oldest first</caption>
        <thead>
          <tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Did</th><th scope="col">State</th>
            <th scope="col">Why</th><th scope="col">Refers to</th></tr>
        </thead>
        <tbody>
          {work.history.map((s, i) => (
            <tr key={i}>
              <td><Time value={s.at} /></td><td>{s.actor}</td><td>{s.action.replace("_", " ")}</td>
              <td>{s.state.replace("_", " ")}</td><td>{s.reason ?? "—"}</td><td><code className="wrap">{s.reference ?? "—"}</code></td>
            </tr>
          ))}
          {work.history.length === 0 && <tr><td colSpan={6} className="muted">Nothing done yet.</td></tr>}
        </tbody>
      </table>
      <h2>Notes</h2>
      {work.notes.length === 0 ? <p className="muted">No notes.</p> : (
        <ul className="notes" data-testid="break-notes">
          {work.notes.map((n, i) => (
            <li key={i}>
              <Time value={n.at} /> — <strong>{n.actor}</strong>: {n.reason}
              {n.reference ? <> (<code className="wrap">{n.reference}</code>)</> : null}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
