// One API client per tab, reading the key from sessionStorage on every request; a 401 anywhere
// signs the operator out (the key was revoked or expired) and sends them to the sign-in page.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { makeClient, type Client } from "./client";
import { clearApiKey, getApiKey, setApiKey } from "./session";

interface Session {
  client: Client;
  signedIn: boolean;
  signIn: (key: string) => void;
  signOut: () => void;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [signedIn, setSignedIn] = useState(() => getApiKey() !== null);
  const client = useMemo(() => makeClient({ baseUrl: window.location.origin, apiKey: () => getApiKey() }), []);
  const signIn = useCallback((key: string) => {
    setApiKey(key);
    setSignedIn(true);
  }, []);
  const signOut = useCallback(() => {
    clearApiKey();
    setSignedIn(false);
  }, []);
  const value = useMemo(() => ({ client, signedIn, signIn, signOut }), [client, signedIn, signIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside SessionProvider");
  return session;
}
