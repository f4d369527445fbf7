/**
 * Activity `rollbackTarget`: Applies one rollback action (restore a Secret, repoint APIM entries or Front Door domains).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { RollbackTargetInput, RollbackTargetOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Applies one rollback action (restore a Secret, repoint APIM entries or Front Door domains). */
export async function rollbackTargetHandler(
  input: RollbackTargetInput,
  context: InvocationContext,
): Promise<RollbackTargetOutput> {
  void input;
  void context;
  throw new Error("rollbackTarget is not implemented yet.");
}

/** The registered activity; orchestrators yield `rollbackTarget(input)`. */
export const rollbackTarget: TypedActivity<RollbackTargetInput, RollbackTargetOutput> = df.app.activity(
  "rollbackTarget",
  { handler: rollbackTargetHandler },
);
