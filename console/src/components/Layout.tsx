import { useQueryClient } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { NavLink } from "react-router";
import { useSession } from "../api/context";

const NAV = [
  ["/", "Overview"],
  ["/dead-letters", "Dead letters"],
  ["/breaks", "Reconciliation breaks"],
  ["/approvals", "Approvals"],
] as const;

export function Layout({ children }: { children: ReactNode }) {
  const { signOut } = useSession();
  const queries = useQueryClient();
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
