// Who the signed-in key is (GET /v1/operator/me): the person it names, as a request's maker and the
// audit log's actor know them. Read once per session (sign-out clears the cache).
import { useQuery } from "@tanstack/react-query";
import { call } from "./client";
import { useSession } from "./context";

export function useOperator() {
  const { client } = useSession();
  return useQuery({
    queryKey: ["operator-identity"],
    queryFn: () => call(client.GET("/v1/operator/me")),
    staleTime: Infinity,
  });
}
