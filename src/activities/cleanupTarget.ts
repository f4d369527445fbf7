/**
 * Activity `cleanupTarget`: After a Succeeded rollout, removes backups and superseded Front Door secrets no domain uses.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { CleanupTargetInput, CleanupTargetOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** After a Succeeded rollout, removes backups and superseded Front Door secrets no domain uses. */
export async function cleanupTargetHandler(
  input: CleanupTargetInput,
  context: InvocationContext,
): Promise<CleanupTargetOutput> {
  void input;
  void context;
  throw new Error("cleanupTarget is not implemented yet.");
}

/** The registered activity; orchestrators yield `cleanupTarget(input)`. */
export const cleanupTarget: TypedActivity<CleanupTargetInput, CleanupTargetOutput> = df.app.activity(
  "cleanupTarget",
  { handler: cleanupTargetHandler },
);
