import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { ErrorNote, Loading } from "../components/Status";

/** Where a search hit leads in the console (the API's link is an API path). */
export function consoleLink(kind: string, id: string): string {
  return kind === "transaction" || kind === "partner_event"
    ? `/transactions/${encodeURIComponent(id)}`
    : `/accounts/${encodeURIComponent(id)}`;
}

/** Exact-match search: a transaction id, a customer id, a ledger account name or a partner event. */
export function AccountsPage() {
  const { client } = useSession();
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const [text, setText] = useState(q);
  const found = useQuery({
    queryKey: ["search", q],
    enabled: q !== "",
    queryFn: () => call(client.GET("/v1/operator/search", { params: { query: { q } } })),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setParams(text.trim() ? { q: text.trim() } : {});
  };
  return (
    <>
      <h1>Accounts and transactions</h1>
      <form role="search" onSubmit={submit} className="filters">
        <label htmlFor="search-q">Transaction, customer, account or partner event id</label>
        <input id="search-q" value={text} onChange={(e) => setText(e.target.value)} placeholder="cus_… or partner:stripe:clearing" />
        <button type="submit">Search</button>
      </form>
      {q === "" ? null : found.isPending ? <Loading what="the search" /> : found.isError ? <ErrorNote error={found.error} /> : (
        <section aria-labelledby="results-heading">
          <h2 id="results-heading">Results</h2>
          {found.data.data.length === 0 ? <p className="muted">Nothing has exactly this id.</p> : (
            <ul data-testid="search-results">
              {found.data.data.map((hit) => (
                <li key={`${hit.kind}:${hit.id}`}>
                  <Link to={consoleLink(hit.kind, hit.id)}>{hit.id}</Link> <span className="muted">({hit.kind.replace("_", " ")}: {hit.label})</span>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </>
  );
}
