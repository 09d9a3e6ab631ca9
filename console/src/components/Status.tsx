import { ApiError, describe } from "../api/client";

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

/** While the console learns whether IAP signed the operator in (../api/iap.ts). */
export function Checking() {
  return (
    <main id="main" className="login">
      <p role="status">Checking sign-in…</p>
    </main>
  );
}

/** An error where it happened: the API's words, and its machine-readable code (and Request-Id) for a ticket. */
export function ErrorNote({ error }: { error: unknown }) {
  return (
    <p className="error" role="alert">
      {describe(error)}
      {error instanceof ApiError && (
        <span className="error-code">
          {" "}[<code>{error.code}</code>{error.status > 0 ? `, HTTP ${error.status}` : ""}
          {error.requestId ? <>, request <code>{error.requestId}</code></> : null}]
        </span>
      )}
    </p>
  );
}

/** A timestamp as the API sends it (RFC 3339, UTC), shown in UTC so operators compare like with like. */
export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  const shown = value.replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, " UTC");
  return <time dateTime={value}>{shown}</time>;
}
