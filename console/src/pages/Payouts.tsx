import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { FilterForm, listCaption, PartnerFilter, SelectFilter } from "../components/Filters";
import { Money } from "../components/Money";
import { Pager, useFilter } from "../components/Pager";
import { ErrorNote, Loading, Time } from "../components/Status";

export const PAYOUT_STATES = ["pending", "submitting", "submitted", "paid", "failed", "returned", "canceled"] as const;
type PayoutState = (typeof PAYOUT_STATES)[number];
const ATTENTION = ["true"] as const;

/** Every tenant's payouts, newest first (GET /v1/operator/payouts): state, partner, attention filters. */
export function PayoutsPage() {
  const { client } = useSession();
  const [status, setStatus] = useFilter("status");
  const [partner, setPartner] = useFilter("partner");
  const [attention, setAttention] = useFilter("attention");
  const [after] = useFilter("after");
  const query = {
    limit: 25,
    ...(status ? { status: status as PayoutState } : {}),
    ...(partner ? { partner } : {}),
    ...(attention === "true" ? { attention: "true" as const } : {}),
    ...(after ? { starting_after: after } : {}),
  };
  const list = useQuery({
    queryKey: ["payouts", query],
    queryFn: () => call(client.GET("/v1/operator/payouts", { params: { query } })),
  });
  return (
    <>
      <h1>Payouts</h1>
      <FilterForm label="Filter payouts" setPartner={setPartner}>
        <SelectFilter label="State" value={status} onChange={setStatus} options={PAYOUT_STATES} anyLabel="any" />
        <SelectFilter label="Needs attention" value={attention} onChange={setAttention} options={ATTENTION} anyLabel="all" />
        <PartnerFilter value={partner} onChange={setPartner} />
      </FilterForm>
      <p className="muted">
        Needs attention: open (pending, submitting, submitted) and either unknown at a partner (it may have executed: the
        janitor asks the partner, never pays again blindly) or quiet for longer than the janitor's threshold.
      </p>
      {list.isPending ? <Loading what="payouts" /> : list.isError ? <ErrorNote error={list.error} /> : (
        <>
          <table data-testid="payouts">
            <caption>{listCaption(list.data.data.length, "payout", list.data.has_more, "newest first")}</caption>
            <thead>
              <tr>
                <th scope="col">Requested</th>
                <th scope="col">Tenant</th>
                <th scope="col">Customer</th>
                <th scope="col" className="num">Amount</th>
                <th scope="col">State</th>
                <th scope="col">Partner</th>
                <th scope="col">Destination</th>
                <th scope="col"><span className="visually-hidden">Open</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((p) => (
                <tr key={p.id}>
                  <td><Time value={p.created} /></td>
                  <td>{p.tenant ?? "—"}</td>
                  <td><code>{p.from_account}</code></td>
                  <td className="num"><Money amount={p.amount} currency={p.currency} /></td>
                  <td>{p.status}{p.attention ? <strong className="severity high"> needs attention</strong> : null}</td>
                  <td>{p.attempts.at(-1)?.partner ?? "—"}</td>
                  <td><code>{p.destination.rail} {p.destination.account_number}</code></td>
                  <td>
                    <Link to={`/payouts/${encodeURIComponent(p.id)}`}>
                      Timeline<span className="visually-hidden"> of payout {p.id}</span>
                    </Link>
                  </td>
                </tr>
              ))}
              {list.data.data.length === 0 && <tr><td colSpan={8} className="muted">No payouts here.</td></tr>}
            </tbody>
          </table>
          <Pager lastId={list.data.data.at(-1)?.id} hasMore={list.data.has_more} />
        </>
      )}
    </>
  );
}
