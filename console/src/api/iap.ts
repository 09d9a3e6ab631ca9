// In the cloud the console sits behind Identity-Aware Proxy (docs/console.md): Google signs the
// operator in before the page loads, and IAP's signed header names them on every request, so there
// is no key to enter. The api says which applies here in /console/sign-in.json (shared/api/console.py):
// "iap" in the cloud behind IAP, "api_key" locally (the key form).

/** Where IAP clears its login cookie (and signs in again): IAP's own query parameter. */
export const IAP_SIGN_OUT = "/console/?gcp-iap-mode=CLEAR_LOGIN_COOKIE";

export type SignIn = "api_key" | "iap";

export async function signInMethod(origin: string, fetch: typeof globalThis.fetch = globalThis.fetch): Promise<SignIn> {
  const url = new URL("/console/sign-in.json", origin).toString();
  const answer = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!answer.ok) throw new Error(`sign-in method: HTTP ${answer.status}`);
  const body: unknown = await answer.json().catch(() => null);
  const method = typeof body === "object" && body !== null ? (body as { sign_in?: unknown }).sign_in : undefined;
  if (method !== "api_key" && method !== "iap") throw new Error("sign-in method: unexpected answer");
  return method;
}
