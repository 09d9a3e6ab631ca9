import { Link } from "react-router";

export function NotFoundPage() {
  return (
    <>
      <h1>Not found</h1>
      <p>
        No console page here. <Link to="/">Back to the overview</Link>.
      </p>
    </>
  );
}
