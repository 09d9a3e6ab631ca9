import { useQueryClient } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { NavLink } from "react-router";
import { useSession } from "../api/context";
import { useOperator } from "../api/identity";

const NAV = [
  ["/", "Overview"],
  ["/dead-letters", "Dead letters"],
  ["/breaks", "Reconciliation breaks"],
  ["/approvals", "Approvals"],
  ["/audit-log", "Audit log"],
  ["/accounts", "Accounts"],
  ["/payouts", "Payouts"],
  ["/payments", "Pay-ins"],
] as const;

export function Layout({ children }: { children: ReactNode }) {
  const { signOut, viaIap } = useSession();
  const queries = useQueryClient();
  const me = useOperator().data;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">ledgerline console</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([to, label]) => (
              <li key={to}>
                <NavLink to={to} end={to === "/"}>
                  {label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        {me && (
          <span className="whoami" data-testid="whoami">
            Signed in as <strong>{me.operator ?? `key ${me.key_id} (names nobody)`}</strong>
            {viaIap && " (Google account, through IAP)"}
          </span>
        )}
        <button
          type="button"
          className="secondary"
          onClick={() => {
            queries.clear();
            signOut();
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
