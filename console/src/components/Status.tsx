import { ApiError, describe } from "../api/client";
import { IAP_SIGN_OUT } from "../api/iap";

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

/** Behind IAP, the api refused the Google identity IAP signed in (a 401): say so, offer IAP's sign-out. */
export function Refused() {
  return (
    <main id="main" className="login">
      <h1>ledgerline console</h1>
      <p role="alert" className="error">
        Your Google sign-in reached the console but the api did not accept it (invalid_iap_assertion). Sign in again;
        if it persists, the platform team checks LEDGERLINE_IAP_AUDIENCE against the console's IAP backend.
      </p>
      <p><a href={IAP_SIGN_OUT}>Sign in again</a></p>
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
