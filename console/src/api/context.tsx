// One API client per tab. Locally the operator signs in with a key, kept in sessionStorage and read on
// every request; in the cloud IAP has signed them in before the page loaded, which the console learns
// from /console/sign-in.json at start (./iap.ts). A 401 anywhere signs the operator out
// (the key was revoked or expired; behind IAP: IAP's sign-out, then Google's sign-in again).
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { makeClient, type Client } from "./client";
import { IAP_SIGN_OUT, signInMethod } from "./iap";
import { clearApiKey, getApiKey, setApiKey } from "./session";

type Mode = "checking" | "key" | "iap" | "iap-refused" | "signed-out";

interface Session {
  client: Client;
  /** true until the console knows whether IAP signed the operator in */
  checking: boolean;
  signedIn: boolean;
  /** signed in by IAP (their Google identity), not by a key */
  viaIap: boolean;
  /** IAP signed the operator in but the api refused the identity (a 401): shown, never a redirect loop */
  refused: boolean;
  signIn: (key: string) => void;
  signOut: () => void;
  /** a 401 from the api: the key is signed out; behind IAP the identity is marked refused */
  unauthenticated: () => void;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [mode, setMode] = useState<Mode>(() => (getApiKey() !== null ? "key" : "checking"));
  const client = useMemo(() => makeClient({ baseUrl: window.location.origin, apiKey: () => getApiKey() }), []);
  useEffect(() => {
    if (mode !== "checking") return;
    let live = true;
    const ask = (left: number): void => {
      signInMethod(window.location.origin).then(
        (method) => live && setMode(method === "iap" ? "iap" : "signed-out"),
        () => {
          if (!live) return;
          if (left > 0) window.setTimeout(() => ask(left - 1), 1000);
          else setMode("signed-out"); // cannot tell: the key form (which notices IAP: Login.tsx)
        },
      );
    };
    ask(2);
    return () => {
      live = false;
    };
  }, [mode]);
  const signIn = useCallback((key: string) => {
    setApiKey(key);
    setMode("key");
  }, []);
  const signOut = useCallback(() => {
    clearApiKey();
    if (mode === "iap" || mode === "iap-refused") window.location.assign(IAP_SIGN_OUT);
    else setMode("signed-out");
  }, [mode]);
  // Stable (it reads no mode: the query client keeps the first one it is given for the tab's life).
  const unauthenticated = useCallback(() => {
    setMode((m) => (m === "iap" || m === "iap-refused" ? "iap-refused" : "signed-out"));
  }, []);
  useEffect(() => {
    if (mode === "signed-out") clearApiKey(); // a revoked or expired key is not kept
  }, [mode]);
  const value = useMemo(
    () => ({
      client,
      checking: mode === "checking",
      signedIn: mode === "key" || mode === "iap",
      viaIap: mode === "iap",
      refused: mode === "iap-refused",
      signIn,
      signOut,
      unauthenticated,
    }),
    [client, mode, signIn, signOut, unauthenticated],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside SessionProvider");
  return session;
}
