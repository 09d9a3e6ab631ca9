import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { call } from "../api/client";
import { useSession } from "../api/context";
import type { components } from "../api/schema.gen";
import { ErrorNote, Loading, Time } from "./Status";

type Raw = components["schemas"]["RawEvent"];

/** A partner's event as intake stored it: who sent it, when, how often, the kept headers (signatures and
 * secrets hidden) and the raw body (account numbers masked by the api). */
export function RawEventView({ raw, level = 3 }: { raw: Raw; level?: 3 | 4 }) {
  const H = level === 3 ? "h3" : "h4";
  return (
    <>
      <dl className="facts">
        <dt>Partner</dt><dd>{raw.partner}</dd>
        <dt>Event id</dt><dd><code>{raw.partner_event_id}</code></dd>
        <dt>Type</dt><dd>{raw.type}</dd>
        <dt>Received</dt><dd><Time value={raw.received_at} /></dd>
        <dt>Deliveries</dt><dd>{raw.deliveries}</dd>
        <dt>Verdict</dt><dd>{raw.verdict}</dd>
      </dl>
      <H>Headers (signatures and secrets hidden)</H>
      <pre data-testid="raw-headers">{JSON.stringify(raw.headers, null, 2)}</pre>
      <H>Body{raw.truncated ? ` (first 64 KiB of ${raw.body_bytes} bytes)` : ""}</H>
      <pre data-testid="raw-body">{raw.body ?? "(redacted)"}</pre>
    </>
  );
}

/** A raw event read on demand (GET /v1/operator/raw-events/{key}) when its disclosure is opened. */
export function RawEventDisclosure({ inboxKey }: { inboxKey: string }) {
  const { client } = useSession();
  const [open, setOpen] = useState(false);
  const raw = useQuery({
    queryKey: ["raw-event", inboxKey],
    queryFn: () => call(client.GET("/v1/operator/raw-events/{key}", { params: { path: { key: inboxKey } } })),
    enabled: open,
  });
  return (
    <details className="raw-event" onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>raw event <code>{inboxKey}</code></summary>
      {!open ? null : raw.isPending ? <Loading what="the raw event" /> : raw.isError ? <ErrorNote error={raw.error} /> : (
        <RawEventView raw={raw.data} level={4} />
      )}
    </details>
  );
}
