import { describe, expect, it } from "vitest";
import { ApiError, CONSOLE_HEADER, call, describe as describeError, idempotencyKey, makeClient } from "../src/api/client";
import { signInMethod } from "../src/api/iap";
import { API_KEY_PATTERN, clearApiKey, getApiKey, setApiKey, type KeyStore } from "../src/api/session";

const KEY = `ll_test_0123456789abcdef_${"a".repeat(43)}`;

type Seen = { url: string; method: string; headers: Headers; body: string | null };

function fakeFetch(status: number, body: unknown, headers: Record<string, string> = {}) {
  const seen: Seen[] = [];
  const fetch = async (input: Request | string | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    seen.push({ url: request.url, method: request.method, headers: request.headers, body: await request.text() || null });
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return new Response(text, {
      status,
      headers: { "Content-Type": typeof body === "string" ? "text/html" : "application/json", ...headers },
    });
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}

const LIST = { object: "list", data: [], has_more: false };

describe("the API client", () => {
  it("sends the operator key as a bearer token, and nothing when signed out", async () => {
    const { fetch, seen } = fakeFetch(200, LIST);
    let key: string | null = KEY;
    const client = makeClient({ baseUrl: "http://api.test", apiKey: () => key, fetch });
    await call(client.GET("/v1/dead-letters", { params: { query: { status: "open", limit: 100 } } }));
    expect(seen[0]?.headers.get("Authorization")).toBe(`Bearer ${KEY}`);
    expect(seen[0]?.url).toBe("http://api.test/v1/dead-letters?status=open&limit=100");
    key = null;
    await call(client.GET("/v1/dead-letters"));
    expect(seen[1]?.headers.get("Authorization")).toBeNull();
    // the CSRF guard the api asks for behind IAP, on every request
    expect(seen.map((s) => s.headers.get(CONSOLE_HEADER))).toEqual(["1", "1"]);
  });

  it("never puts the key in the URL", async () => {
    const { fetch, seen } = fakeFetch(200, LIST);
    const client = makeClient({ baseUrl: "http://api.test", apiKey: () => KEY, fetch });
    await call(client.GET("/v1/operator/requests", { params: { query: { status: "pending" } } }));
    expect(seen[0]?.url).not.toContain(KEY);
  });

  it("maps the API's machine-readable errors to ApiError", async () => {
    const body = {
      error: { type: "authentication_error", code: "invalid_api_key", message: "the API key is not valid", param: "Authorization" },
    };
    const { fetch } = fakeFetch(401, body, { "Request-Id": "req_1" });
    const client = makeClient({ baseUrl: "http://api.test", apiKey: () => KEY, fetch });
    const error = await call(client.GET("/v1/dead-letters")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    const api = error as ApiError;
    expect([api.status, api.type, api.code, api.param, api.requestId]).toEqual([
      401, "authentication_error", "invalid_api_key", "Authorization", "req_1",
    ]);
    expect(api.unauthenticated).toBe(true);
    expect(describeError(api)).toMatch(/not valid/);
  });

  it("keeps the param of a 400 and the API's message for codes it does not know", async () => {
    const body = { error: { type: "invalid_request_error", code: "parameter_invalid", message: "reason is empty", param: "reason" } };
    const { fetch, seen } = fakeFetch(400, body);
    const client = makeClient({ baseUrl: "http://api.test", apiKey: () => KEY, fetch });
    const error = (await call(
      client.POST("/v1/dead-letters/{id}/replay", {
        params: { path: { id: "dl_1" } },
        body: { reason: "", dry_run: true },
      }),
    ).catch((e: unknown) => e)) as ApiError;
    expect([error.status, error.code, error.param]).toEqual([400, "parameter_invalid", "reason"]);
    expect(describeError(error)).toBe("reason is empty (reason)");
    expect(seen[0]?.method).toBe("POST");
    expect(JSON.parse(seen[0]?.body ?? "{}")).toEqual({ reason: "", dry_run: true });
  });

  it("sends the Idempotency-Key of an action, one per action", async () => {
    const replay = { object: "dead_letter_replay", dead_letter: "dl_1", action: "enqueue", dry_run: false, detail: {}, request: null };
    const { fetch, seen } = fakeFetch(200, replay);
    const client = makeClient({ baseUrl: "http://api.test", apiKey: () => KEY, fetch });
    const key = idempotencyKey();
    const answer = await call(
      client.POST("/v1/dead-letters/{id}/replay", {
        params: { path: { id: "task:stream-pending:k" }, header: { "Idempotency-Key": key } },
        body: { reason: "downstream back", dry_run: false },
      }),
    );
    expect(answer.action).toBe("enqueue");
    expect(seen[0]?.headers.get("Idempotency-Key")).toBe(key);
    expect(seen[0]?.url).toBe("http://api.test/v1/dead-letters/task%3Astream-pending%3Ak/replay");
    expect(idempotencyKey()).not.toBe(key);
    expect(key).toMatch(/^console-[0-9a-f-]{36}$/);
  });

  it("says in plain words what a scope error means", () => {
    const error = new ApiError(403, "permission_error", "insufficient_scope", "this API key lacks the 'operator' scope");
    expect(describeError(error)).toMatch(/operator key/);
    expect(describeError(new Error("boom"))).toBe("boom");
  });

  it("turns a non-JSON error page and a network failure into ApiError too", async () => {
    const { fetch } = fakeFetch(502, "<html>bad gateway</html>");
    const client = makeClient({ baseUrl: "http://api.test", apiKey: () => KEY, fetch });
    const gateway = (await call(client.GET("/v1/dead-letters")).catch((e: unknown) => e)) as ApiError;
    expect([gateway.status, gateway.code]).toEqual([502, "unexpected_response"]);

    const down = makeClient({
      baseUrl: "http://api.test",
      apiKey: () => KEY,
      fetch: (async () => {
        throw new TypeError("fetch failed");
      }) as typeof globalThis.fetch,
    });
    const network = (await call(down.GET("/v1/dead-letters")).catch((e: unknown) => e)) as ApiError;
    expect([network.status, network.code]).toEqual([0, "network_error"]);
    expect(describeError(network)).toBe("The API could not be reached.");
  });
});

describe("the session key", () => {
  it("is kept in the store it is given (sessionStorage in the browser) and removed on sign-out", () => {
    const items = new Map<string, string>();
    const store: KeyStore = {
      getItem: (k) => items.get(k) ?? null,
      setItem: (k, v) => void items.set(k, v),
      removeItem: (k) => void items.delete(k),
    };
    expect(getApiKey(store)).toBeNull();
    setApiKey(KEY, store);
    expect(getApiKey(store)).toBe(KEY);
    clearApiKey(store);
    expect(items.size).toBe(0);
  });

  it("recognises the key format before sending anything", () => {
    expect(API_KEY_PATTERN.test(KEY)).toBe(true);
    expect(API_KEY_PATTERN.test("ll_test_short_x")).toBe(false);
    expect(API_KEY_PATTERN.test(` ${KEY}`)).toBe(false);
  });
});

describe("how operators sign in here", () => {
  it("is what /console/sign-in.json says: iap in the cloud behind IAP, api_key locally", async () => {
    for (const method of ["iap", "api_key"] as const) {
      const { fetch, seen } = fakeFetch(200, { sign_in: method });
      expect(await signInMethod("http://console.test", fetch)).toBe(method);
      expect(seen[0]?.url).toContain("/console/sign-in.json");
    }
  });

  it("is an error, never a guess, for anything else", async () => {
    for (const [status, body] of [[200, { sign_in: "password" }], [200, "<html>"], [503, { error: {} }]] as const) {
      const { fetch } = fakeFetch(status, body);
      await expect(signInMethod("http://console.test", fetch)).rejects.toThrow(/sign-in method/);
    }
  });
});
