import { useSearchParams } from "react-router";

/** Cursor pagination as the API does it: `starting_after` = the last id of this page (kept in the URL). */
export function Pager({ lastId, hasMore }: { lastId: string | undefined; hasMore: boolean }) {
  const [params, setParams] = useSearchParams();
  const after = params.get("after");
  return (
    <nav className="pager" aria-label="Pages">
      {after && (
        <button
          type="button"
          className="secondary"
          onClick={() => {
            const next = new URLSearchParams(params);
            next.delete("after");
            setParams(next);
          }}
        >
          First page
        </button>
      )}
      {hasMore && lastId && (
        <button
          type="button"
          className="secondary"
          onClick={() => {
            const next = new URLSearchParams(params);
            next.set("after", lastId);
            setParams(next);
          }}
        >
          Next page
        </button>
      )}
    </nav>
  );
}

/** A filter kept in the URL (so a figure on the overview links straight to its list). */
export function useFilter(name: string): [string, (value: string) => void] {
  const [params, setParams] = useSearchParams();
  return [
    params.get(name) ?? "",
    (value: string) => {
      const next = new URLSearchParams(params);
      if (value) next.set(name, value);
      else next.delete(name);
      next.delete("after");
      setParams(next);
    },
  ];
}

/** Several URL filters set at once (one navigation: separate setters would each start from the old URL). */
export function useSetFilters(): (values: Record<string, string>) => void {
  const [params, setParams] = useSearchParams();
  return (values) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(values)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    next.delete("after");
    setParams(next);
  };
}
