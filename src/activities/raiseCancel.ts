/**
 * Activity `raiseCancel`: raises the "cancel" event at each running instance of a list (the
 * sub-orchestrations an orchestration is waiting for), so a cancel request that reached the rotation
 * also stops the waits of its stages, targets and polls. Orchestrators cannot raise events at other
 * instances themselves in JavaScript, so they ask this activity, which holds a Durable client.
 *
 * Idempotent: an instance that already ended or does not exist is skipped, and a second "cancel"
 * at a running instance is harmless (the first one already ended its wait).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { TypedActivity } from "./typed.js";

/** Input of `raiseCancel`. */
export interface RaiseCancelInput {
  instanceIds: string[];
  /** The instance passing the cancel on (recorded in the event). */
  from: string;
}

/** Output of `raiseCancel`: the instances that were running and got the event. */
export interface RaiseCancelOutput {
  raised: string[];
}

const RUNNING = new Set(["Running", "Pending", "ContinuedAsNew", "Suspended"]);

/** Raises "cancel" at every running instance of the list. */
export async function raiseCancelHandler(
  input: RaiseCancelInput,
  context: InvocationContext,
): Promise<RaiseCancelOutput> {
  const client = df.getClient(context);
  const raised: string[] = [];
  for (const id of input.instanceIds) {
    const status = await client.getStatus(id).catch(() => undefined);
    if (!status || !RUNNING.has(String(status.runtimeStatus))) continue;
    await client.raiseEvent(id, "cancel", { from: input.from });
    raised.push(id);
  }
  if (raised.length) context.log(`raiseCancel: ${input.from} passed the cancel on to ${raised.join(", ")}.`);
  return { raised };
}

/** The registered activity; orchestrators yield `raiseCancel(input)`. */
export const raiseCancel: TypedActivity<RaiseCancelInput, RaiseCancelOutput> = df.app.activity(
  "raiseCancel",
  {
    extraInputs: [df.input.durableClient()],
    handler: raiseCancelHandler,
  },
);
