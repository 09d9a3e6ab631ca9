import { useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";
import { ApiError, call, describe, makeClient } from "../api/client";
import { useSession } from "../api/context";
import { API_KEY_PATTERN } from "../api/session";
import { Checking } from "../components/Status";

export function LoginPage() {
  const { checking, signedIn, signIn } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const from = (location.state as { from?: string } | null)?.from ?? "/";
  if (checking) return <Checking />;
  if (signedIn) return <Navigate to={from} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    const candidate = key.trim();
    if (!API_KEY_PATTERN.test(candidate)) {
      setError("An API key looks like ll_test_<16 hex digits>_<43 characters>.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      // One operator-scoped read proves the key before it is kept (sessionStorage only). Behind IAP the
      // api answers for the Google identity instead, whatever was typed: then this page should not be
      // here at all (the sign-in method could not be read): start again, signed in by IAP.
      const probe = makeClient({ baseUrl: window.location.origin, apiKey: () => candidate });
      const me = await call(probe.GET("/v1/operator/me"));
      if (me.authentication === "iap") {
        window.location.reload();
        return;
      }
      signIn(candidate);
      navigate(from, { replace: true });
    } catch (caught) {
      setError(
        caught instanceof ApiError && caught.code === "insufficient_scope"
          ? "This key is valid but is not an operator key."
          : describe(caught),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" className="login">
      <h1>ledgerline console</h1>
      <p>Sign in with your operator API key. It is kept in this tab only, until you sign out or close it.</p>
      <form onSubmit={submit} noValidate>
        <label htmlFor="api-key">Operator API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-invalid={error !== null}
          aria-describedby={error ? "login-error" : undefined}
          required
        />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error && (
          <p id="login-error" className="error" role="alert">
            {error}
          </p>
        )}
      </form>
      <p className="muted">
        Locally: <code>.venv/bin/python -m shared.cli api-keys create --tenant internal --scopes operator --operator you@example.com</code>
      </p>
    </main>
  );
}
