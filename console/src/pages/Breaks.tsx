import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { call } from "../api/client";
import { useSession } from "../api/context";
import { FilterForm, listCaption, PartnerFilter, SelectFilter } from "../components/Filters";
import { Money } from "../components/Money";
import { Pager, useFilter } from "../components/Pager";
import { ErrorNote, Loading } from "../components/Status";

const STATES = ["open", "acknowledged", "resolved", "accepted", "written_off"] as const;
const SEVERITIES = ["low", "medium", "high", "critical"] as const;
type State = (typeof STATES)[number];
type Severity = (typeof SEVERITIES)[number];

export function BreaksPage() {
  const { client } = useSession();
  const [state, setState] = useFilter("state");
  const [severity, setSeverity] = useFilter("severity");
  const [partner, setPartner] = useFilter("partner");
  const [currency] = useFilter("currency");
  const [after] = useFilter("after");
  const query = {
    limit: 25,
    ...(state ? { state: state as State } : {}),
    ...(severity ? { severity: severity as Severity } : {}),
    ...(partner ? { partner } : {}),
    ...(currency ? { currency } : {}),
    ...(after ? { starting_after: after } : {}),
  };
  const list = useQuery({
    queryKey: ["breaks", query],
    queryFn: () => call(client.GET("/v1/operator/breaks", { params: { query } })),
  });

  return (
    <>
      <h1>Reconciliation breaks</h1>
      <FilterForm label="Filter breaks" setPartner={setPartner}>
        <SelectFilter label="State" value={state} onChange={setState} options={STATES} anyLabel="any" />
        <SelectFilter label="Severity" value={severity} onChange={setSeverity} options={SEVERITIES} anyLabel="any" />
        <PartnerFilter value={partner} onChange={setPartner} />
        {currency && <p className="muted">Currency: {currency}</p>}
      </FilterForm>
      {list.isPending ? <Loading what="breaks" /> : list.isError ? <ErrorNote error={list.error} /> : (
        <>
          <table data-testid="breaks">
            <caption>{listCaption(list.data.data.length, "break", list.data.has_more, "oldest first")}</caption>
            <thead>
              <tr>
                <th scope="col">Opened</th>
                <th scope="col" className="num">Age (days)</th>
                <th scope="col">Partner</th>
                <th scope="col">Reason</th>
                <th scope="col">Severity</th>
                <th scope="col">State</th>
                <th scope="col" className="num">Amount</th>
                <th scope="col" className="num">Difference</th>
                <th scope="col">Reference</th>
                <th scope="col">Assignee</th>
                <th scope="col"><span className="visually-hidden">Work</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((b) => (
                <tr key={b.id}>
                  <td>{b.opened_on ?? "—"}</td>
                  <td className="num">{b.age_days ?? "—"}</td>
                  <td>{b.partner ?? "—"}</td>
                  <td><code>{b.reason_code ?? "—"}</code></td>
                  <td><span className={`severity ${b.severity ?? ""}`}>{b.severity ?? "—"}</span></td>
                  <td>{b.state.replace("_", " ")}</td>
                  <td className="num"><Money amount={b.amount} currency={b.currency} /></td>
                  <td className="num"><Money amount={b.difference} currency={b.currency} /></td>
                  <td><code className="wrap">{b.reference ?? "—"}</code></td>
                  <td>{b.assignee ?? "—"}</td>
                  <td>
                    <Link to={`/breaks/${encodeURIComponent(b.id)}`}>
                      Work<span className="visually-hidden"> break {b.id}</span>
                    </Link>
                  </td>
                </tr>
              ))}
              {list.data.data.length === 0 && <tr><td colSpan={11} className="muted">No breaks here.</td></tr>}
            </tbody>
          </table>
          <Pager lastId={list.data.data.at(-1)?.id} hasMore={list.data.has_more} />
        </>
      )}
    </>
  );
}
