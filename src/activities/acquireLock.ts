/**
 * Activity `acquireLock`: Takes a lease on one resource in Table storage (ETag concurrency, expiry).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { AcquireLockInput, AcquireLockOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Takes a lease on one resource in Table storage (ETag concurrency, expiry). */
export async function acquireLockHandler(
  input: AcquireLockInput,
  context: InvocationContext,
): Promise<AcquireLockOutput> {
  void input;
  void context;
  throw new Error("acquireLock is not implemented yet.");
}

/** The registered activity; orchestrators yield `acquireLock(input)`. */
export const acquireLock: TypedActivity<AcquireLockInput, AcquireLockOutput> = df.app.activity(
  "acquireLock",
  { handler: acquireLockHandler },
);
