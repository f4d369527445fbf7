/**
 * Activity `releaseLock`: Releases a lease held by its owner (no-op otherwise).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ReleaseLockInput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Whether a lease held by the owner was released. */
export interface ReleaseLockOutput {
  released: boolean;
}

/** Releases a lease held by its owner (no-op otherwise). */
export async function releaseLockHandler(
  input: ReleaseLockInput,
  context: InvocationContext,
): Promise<ReleaseLockOutput> {
  void input;
  void context;
  throw new Error("releaseLock is not implemented yet.");
}

/** The registered activity; orchestrators yield `releaseLock(input)`. */
export const releaseLock: TypedActivity<ReleaseLockInput, ReleaseLockOutput> = df.app.activity(
  "releaseLock",
  { handler: releaseLockHandler },
);
