/**
 * Activity `settleApimUpdate` (for the holder of the service's lease): settles the changes an update
 * claimed, as the update ended — done; failed (or queued again to go alone, when the failure may be
 * one change's and the update carried several); or queued again when its sender stopped waiting.
 * Only changes still claimed by this update are touched (another holder may have reclaimed them).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { listChanges, replaceChange } from "../azure/apimQueue.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { settle } from "../domain/apimBatch.js";
import type { SettleApimUpdateInput, SettleApimUpdateOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Settles the update's changes. */
export async function settleApimUpdateHandler(
  input: SettleApimUpdateInput,
  context: InvocationContext,
): Promise<SettleApimUpdateOutput> {
  const c = composition();
  try {
    const table = await c.lockTable();
    const mine = (await listChanges(table, input.serviceId)).filter(
      (q) => q.state === "claimed" && q.updateId === input.updateId,
    );
    let settled = 0;
    for (const q of mine) {
      const next = settle(q, input.outcome, mine.length);
      const keepUpdate = next.state === "done" || next.state === "failed";
      if (
        await replaceChange(table, input.serviceId, q, {
          ...next,
          updateId: keepUpdate ? input.updateId : undefined,
        })
      )
        settled++;
    }
    context.log(
      `settleApimUpdate: update ${input.updateId} ${input.outcome.status}: ${settled} of ${mine.length} change(s) settled.`,
    );
    return { settled };
  } catch (e) {
    const f = describeSdkError(e, `Settling APIM update ${input.updateId}`);
    context.warn(`settleApimUpdate: ${f.message}`);
    throw retriable(f);
  }
}

/** The registered activity; the lease holder yields `settleApimUpdate(input)`. */
export const settleApimUpdate: TypedActivity<SettleApimUpdateInput, SettleApimUpdateOutput> = df.app.activity(
  "settleApimUpdate",
  { handler: settleApimUpdateHandler },
);
