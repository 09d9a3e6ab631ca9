import { describe } from "../api/client";

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  return (
    <p className="error" role="alert">
      {describe(error)}
    </p>
  );
}

/** A timestamp as the API sends it (RFC 3339, UTC), shown in UTC so operators compare like with like. */
export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  const shown = value.replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, " UTC");
  return <time dateTime={value}>{shown}</time>;
}
