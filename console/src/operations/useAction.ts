// One operator action (a POST that changes something) as a mutation: its Idempotency-Key kept across
// retries of that action (ActionKey), the lists it changes refetched afterwards.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ActionKey } from "../api/client";

/** Every query a break desk or approvals action may change. */
const CHANGED = [["break"], ["breaks"], ["requests"], ["request"], ["audit-log"], ["dead-letters"]];

export function useAction<Body, Result>(send: (body: Body, idempotencyKey: string) => Promise<Result>) {
  const queries = useQueryClient();
  const [key] = useState(() => new ActionKey());
  return useMutation({
    mutationFn: async (body: Body) => {
      try {
        const result = await send(body, key.for(body));
        key.settle();
        return result;
      } catch (error) {
        key.settle(error);
        throw error;
      }
    },
    onSettled: () => Promise.all(CHANGED.map((queryKey) => queries.invalidateQueries({ queryKey }))),
  });
}
