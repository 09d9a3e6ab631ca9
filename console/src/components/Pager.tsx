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
