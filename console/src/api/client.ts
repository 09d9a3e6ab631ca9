// The typed API client: openapi-fetch over the types generated from docs/openapi.yaml (schema.gen.ts),
// so a path, a parameter or a field the contract no longer has fails `tsc`. Every call goes through
// `call`, which turns the API's machine-readable errors ({"error": {type, code, message, param}}) into
// one ApiError, and a network failure or a non-JSON answer into one too.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.gen";

export type Schemas = components["schemas"];
export type DeadLetter = Schemas["DeadLetter"];
export type BreakWork = Schemas["BreakWork"];
export type OperatorRequest = Schemas["OperatorRequest"];
export type Replay = Schemas["Replay"];
export type BulkReplay = Schemas["BulkReplay"];
export type ReconRun = Schemas["ReconRun"];
export type AuditEntry = Schemas["AuditEntry"];
export type ManualMatch = Schemas["ManualMatch"];
export type OperatorIdentity = Schemas["OperatorIdentity"];

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly requestId: string | null = null,
  ) {
    super(message);
  }

  /** 401: the key is missing, mistyped, revoked or expired: sign in again. */
  get unauthenticated(): boolean {
    return this.status === 401;
  }
}

const FRIENDLY: Record<string, string> = {
  invalid_api_key: "This API key is not valid (mistyped, revoked or expired).",
  invalid_iap_assertion: "Your Google sign-in could not be verified; sign in again.",
  insufficient_scope: "This API key lacks the scope this page needs (sign in with an operator key).",
  rate_limited: "Too many requests for this key; wait a moment and retry.",
  network_error: "The API could not be reached.",
  internal_error: "The API failed unexpectedly; retry, and tell the platform team if it persists.",
};

/** What to show a person for an error: our wording for the common codes, else the API's message. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    const text = FRIENDLY[error.code] ?? error.message;
    return error.param ? `${text} (${error.param})` : text;
  }
  return error instanceof Error ? error.message : String(error);
}

function errorBody(value: unknown): Schemas["ErrorDetail"] | null {
  if (typeof value !== "object" || value === null || !("error" in value)) return null;
  const detail = (value as { error: unknown }).error;
  if (typeof detail !== "object" || detail === null) return null;
  const { code, message } = detail as { code?: unknown; message?: unknown };
  return typeof code === "string" && typeof message === "string" ? (detail as Schemas["ErrorDetail"]) : null;
}

export function toApiError(status: number, body: unknown, requestId: string | null): ApiError {
  const detail = errorBody(body);
  if (detail) {
    return new ApiError(status, detail.type ?? "api_error", detail.code, detail.message, detail.param ?? null, requestId);
  }
  return new ApiError(status, "api_error", "unexpected_response", `unexpected answer (HTTP ${status})`, null, requestId);
}

export interface ClientOptions {
  baseUrl: string;
  apiKey: () => string | null;
  fetch?: typeof globalThis.fetch;
}

/** Sent on every request: behind IAP (the cloud) the api refuses a change without it, so a page of
 * another site cannot use the operator's IAP cookie (it cannot set a custom header without a CORS
 * preflight, and the api answers none): shared/api/iap.py. */
export const CONSOLE_HEADER = "X-Ledgerline-Console";

export function makeClient(options: ClientOptions) {
  const client = createClient<paths>({ baseUrl: options.baseUrl, fetch: options.fetch });
  const auth: Middleware = {
    onRequest({ request }) {
      request.headers.set(CONSOLE_HEADER, "1");
      const key = options.apiKey();
      if (key) request.headers.set("Authorization", `Bearer ${key}`);
      return request;
    },
  };
  client.use(auth);
  return client;
}

export type Client = ReturnType<typeof makeClient>;

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's data, or an ApiError (HTTP error, non-JSON answer, network failure). */
export async function call<T>(pending: Promise<Outcome<T>>): Promise<T> {
  let outcome: Outcome<T>;
  try {
    outcome = await pending;
  } catch (cause) {
    if (cause instanceof ApiError) throw cause;
    throw new ApiError(0, "api_error", "network_error", cause instanceof Error ? cause.message : String(cause));
  }
  const { data, error, response } = outcome;
  const requestId = response.headers.get("Request-Id");
  if (!response.ok || error !== undefined) throw toApiError(response.status, error, requestId);
  if (data === undefined) throw toApiError(response.status, null, requestId);
  return data;
}

/** A fresh Idempotency-Key for one operator action (kept by the caller across retries of that action). */
export function idempotencyKey(): string {
  return `console-${crypto.randomUUID()}`;
}

/**
 * One operator action's Idempotency-Key. The same key for a retry whose outcome is unknown (no answer,
 * a 5xx, `idempotency_in_flight`), so a lost answer is replayed, never done twice; a new key once the
 * API answered for good (done, or refused: the API stores a refusal under its key, so the retry after
 * fixing the cause must be a new action) and whenever what is asked changes (the same key with another
 * body is `idempotency_key_reuse`).
 */
export class ActionKey {
  private key: string | null = null;
  private body = "";
  constructor(private readonly make: () => string = idempotencyKey) {}

  for(body: unknown): string {
    const asked = JSON.stringify(body ?? null);
    if (this.key === null || asked !== this.body) {
      this.key = this.make();
      this.body = asked;
    }
    return this.key;
  }

  settle(error?: unknown): void {
    const unknown =
      error instanceof ApiError && (error.status === 0 || error.status >= 500 || error.code === "idempotency_in_flight");
    if (!unknown) this.key = null;
  }
}
