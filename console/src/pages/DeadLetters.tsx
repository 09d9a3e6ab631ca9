import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { call, idempotencyKey, type BulkReplay, type DeadLetter, type Replay } from "../api/client";
import { useSession } from "../api/context";
import { FilterForm, listCaption, PartnerFilter, SelectFilter } from "../components/Filters";
import { Pager, useFilter } from "../components/Pager";
import { ErrorNote, Loading, Time } from "../components/Status";
import { useAction } from "../operations/useAction";

const STATUSES = ["open", "replayed"] as const;
const SOURCES = ["task", "pubsub", "parked"] as const;
type Status = (typeof STATUSES)[number];
type Source = (typeof SOURCES)[number];

export function DeadLettersPage() {
  const { client } = useSession();
  const [status, setStatus] = useFilter("status");
  const [source, setSource] = useFilter("source");
  const [partner, setPartner] = useFilter("partner");
  const [after] = useFilter("after");
  // the record inspected, kept while the list refreshes (a replayed one leaves the open list)
  const [chosen, setChosen] = useState<DeadLetter | null>(null);
  const selected = chosen?.id ?? null;
  const query = {
    status: (status || "open") as Status,
    limit: 25,
    ...(source ? { source: source as Source } : {}),
    ...(partner ? { partner } : {}),
    ...(after ? { starting_after: after } : {}),
  };
  const list = useQuery({
    queryKey: ["dead-letters", query],
    queryFn: () => call(client.GET("/v1/dead-letters", { params: { query } })),
  });

  return (
    <>
      <h1>Dead letters</h1>
      <FilterForm label="Filter dead letters" setPartner={setPartner}>
        <SelectFilter label="Status" value={status || "open"} onChange={setStatus} options={STATUSES} />
        <SelectFilter label="Source" value={source} onChange={setSource} options={SOURCES} anyLabel="any" />
        <PartnerFilter value={partner} onChange={setPartner} />
      </FilterForm>
      {list.isPending ? <Loading what="dead letters" /> : list.isError ? <ErrorNote error={list.error} /> : (
        <>
          <table data-testid="dead-letters">
            <caption>
              {listCaption(list.data.data.length, `${query.status} dead letter`, list.data.has_more, "newest first")}
            </caption>
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Source</th>
                <th scope="col">Kind</th>
                <th scope="col">Partner</th>
                <th scope="col">Reason</th>
                <th scope="col" className="num">Attempts</th>
                <th scope="col"><span className="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((d) => (
                <tr key={d.id} aria-selected={d.id === selected}>
                  <td><Time value={d.created_at} /></td>
                  <td>{d.source}</td>
                  <td>{d.kind}</td>
                  <td>{d.partner ?? "—"}</td>
                  <td><code>{d.reason_code}</code></td>
                  <td className="num">{d.attempts}</td>
                  <td>
                    <button type="button" className="secondary" onClick={() => setChosen(d.id === selected ? null : d)}
                      aria-expanded={d.id === selected} aria-controls="dead-letter-detail">
                      {d.id === selected ? "Close" : "Inspect"}<span className="visually-hidden"> {d.id}</span>
                    </button>
                  </td>
                </tr>
              ))}
              {list.data.data.length === 0 && (
                <tr><td colSpan={7} className="muted">No dead letters here.</td></tr>
              )}
            </tbody>
          </table>
          <Pager lastId={list.data.data.at(-1)?.id} hasMore={list.data.has_more} />
          {chosen && <Detail key={chosen.id} letter={chosen} />}
          {/* kept while the list empties: a replayed set leaves the open list, its outcome stays shown */}
          {query.status === "open" && (
            <BulkReplayPanel key={`${source}|${partner}`} source={source as Source | ""} partner={partner} />
          )}
        </>
      )}
    </>
  );
}

function Detail({ letter }: { letter: DeadLetter }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const [reason, setReason] = useState("");
  const [dryRun, setDryRun] = useState<Replay | null>(null);
  // one key per replay this operator asks for: a retry after a lost answer replays the first answer
  const [key] = useState(idempotencyKey);
  const replay = useMutation({
    mutationFn: (dry: boolean) =>
      call(
        client.POST("/v1/dead-letters/{id}/replay", {
          params: { path: { id: letter.id }, header: dry ? {} : { "Idempotency-Key": key } },
          body: { reason: reason.trim(), dry_run: dry },
        }),
      ),
    onSuccess: (answer) => {
      if (answer.dry_run) setDryRun(answer);
      else void queries.invalidateQueries({ queryKey: ["dead-letters"] });
    },
  });
  const done = replay.data && !replay.data.dry_run ? replay.data : null;

  function submit(event: FormEvent, dry: boolean) {
    event.preventDefault();
    replay.mutate(dry);
  }

  return (
    <section id="dead-letter-detail" className="detail" aria-labelledby="detail-heading">
      <h2 id="detail-heading">Dead letter <code>{letter.id}</code></h2>
      <dl className="facts">
        <dt>Status</dt><dd>{done?.request?.status === "pending" ? "open (replay awaiting approval)" : done ? "replayed" : letter.status}</dd>
        <dt>Key</dt><dd><code>{letter.key}</code></dd>
        <dt>Kind</dt><dd>{letter.kind} ({letter.source})</dd>
        <dt>Reason</dt><dd><code>{letter.reason_code}</code>{letter.reason ? ` — ${letter.reason}` : ""}</dd>
        <dt>Attempts</dt><dd>{letter.attempts}</dd>
        <dt>First error</dt><dd><pre>{letter.first_error ?? "—"}</pre></dd>
        <dt>Last error</dt><dd><pre>{letter.last_error ?? "—"}</pre></dd>
        <dt>Created</dt><dd><Time value={letter.created_at} /></dd>
        <dt>Last attempt</dt><dd><Time value={letter.last_attempt_at} /></dd>
        <dt>Replays</dt><dd>{letter.replays}{letter.replayed_at ? <> (last <Time value={letter.replayed_at} />)</> : null}</dd>
      </dl>
      {letter.status === "open" && !done && (
        <form className="replay" onSubmit={(e) => submit(e, dryRun === null)}>
          <label htmlFor="replay-reason">Why replay it (kept in the audit log)</label>
          <textarea id="replay-reason" value={reason} required maxLength={500} rows={2}
            onChange={(e) => { setReason(e.target.value); setDryRun(null); }} />
          <div className="actions">
            <button type="button" className="secondary" disabled={!reason.trim() || replay.isPending}
              onClick={(e) => submit(e, true)}>
              Dry run
            </button>
            <button type="submit" disabled={!reason.trim() || dryRun === null || replay.isPending}>
              Replay
            </button>
          </div>
          {dryRun === null && <p className="muted">A dry run shows what the replay would do; then Replay sends it.</p>}
        </form>
      )}
      {replay.isError && <ErrorNote error={replay.error} />}
      {dryRun && !done && (
        <div role="status" className="note">
          <p>Dry run: it would <strong>{dryRun.action}</strong> it again.</p>
          <pre>{JSON.stringify(dryRun.detail, null, 2)}</pre>
        </div>
      )}
      {done && (
        <div role="status" className="note success">
          {done.request?.status === "pending"
            ? <p>Replay asked: request <code>{done.request.id}</code> waits for a second operator's approval.</p>
            : <p>Replayed ({done.action}){done.request ? <> — request <code>{done.request.id}</code> {done.request.status}</> : null}.</p>}
        </div>
      )}
    </section>
  );
}

/** Replay every open dead letter the filters above select (at most 100), each as its own operator
 * request: a dry run lists them and gives a digest; Replay sends it back, so what is replayed is what was
 * shown (the API answers 409 selection_changed otherwise, and the dry run must be done again). */
function BulkReplayPanel({ source, partner }: { source: Source | ""; partner: string }) {
  const { client } = useSession();
  const [reason, setReason] = useState("");
  const [dryRun, setDryRun] = useState<BulkReplay | null>(null);
  // every field named: the generated type makes defaulted ones required; null is "no filter"
  const filter = { source: source || null, partner: partner || null, kind: null, reason_code: null, since: null };
  const send = useAction((body: { dry_run: boolean; selection: string | null }, key: string) =>
    call(
      client.POST("/v1/operator/dead-letters/replay", {
        params: { header: { "Idempotency-Key": key } },
        body: { reason: reason.trim(), limit: 100, ...filter, ...body },
      }),
    ),
  );
  const done = send.data && !send.data.dry_run ? send.data : null;
  const what = [source && `source ${source}`, partner && `partner ${partner}`].filter(Boolean).join(", ") || "all";

  return (
    <section className="detail" aria-labelledby="bulk-heading" data-testid="bulk-replay">
      <h2 id="bulk-heading">Replay the filtered set</h2>
      <p className="muted">
        Every open dead letter matching the filters above ({what}), newest first, at most 100: each one an operator
        request, as a single replay is (a second operator approves those that may move money above the threshold).
      </p>
      {!done && (
        <form className="replay" onSubmit={(e) => {
          e.preventDefault();
          if (dryRun) send.mutate({ dry_run: false, selection: dryRun.selection });
        }}>
          <label htmlFor="bulk-reason">Why replay them (kept in the audit log)</label>
          <textarea id="bulk-reason" value={reason} required maxLength={500} rows={2}
            onChange={(e) => { setReason(e.target.value); setDryRun(null); }} />
          <div className="actions">
            <button type="button" className="secondary" disabled={!reason.trim() || send.isPending}
              onClick={() => send.mutate({ dry_run: true, selection: null }, { onSuccess: (answer) => setDryRun(answer) })}>
              Count them (dry run)
            </button>
            <button type="submit" disabled={!reason.trim() || !dryRun || dryRun.matched === 0 || send.isPending}>
              {dryRun ? `Replay ${dryRun.matched}` : "Replay"}
            </button>
          </div>
        </form>
      )}
      {send.isError && <ErrorNote error={send.error} />}
      {dryRun && !done && (
        <div role="status" className="note" data-testid="bulk-dry-run">
          <p>
            Dry run: <strong>{dryRun.matched}</strong> dead letter{dryRun.matched === 1 ? "" : "s"} would be replayed
            {dryRun.has_more ? " (more match: replay these, then count again)" : ""}.
          </p>
          <ul>{dryRun.data.map((d) => <li key={d.dead_letter}><code className="wrap">{d.dead_letter}</code> — {d.action}</li>)}</ul>
        </div>
      )}
      {done && (
        <div role="status" className="note success" data-testid="bulk-done">
          <p>
            {done.data.filter((d) => d.status === "executed").length} of {done.matched} replayed;{" "}
            {done.data.filter((d) => d.status === "pending").length} wait for a second operator.
          </p>
          <ul>
            {done.data.map((d) => (
              <li key={d.dead_letter}>
                <code className="wrap">{d.dead_letter}</code>: {d.status}
                {d.request ? <> — request <code>{d.request}</code></> : null}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
