/**
 * Activity `acquireLock`: takes or renews the lease on one resource (an APIM service) in Table
 * storage (see src/azure/leases.ts), so updates to one resource never overlap across rollouts.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { takeLease } from "../azure/leases.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import type { AcquireLockInput, AcquireLockOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

export { LOCK_PARTITION, type LockEntity } from "../azure/leases.js";

/** Takes (or renews) the lease, or says who holds it and for how long. */
export async function acquireLockHandler(
  input: AcquireLockInput,
  context: InvocationContext,
): Promise<AcquireLockOutput> {
  const c = composition();
  try {
    const answer = await takeLease(await c.lockTable(), input, c.now());
    if (!answer.acquired) return answer;
    context.log(`acquireLock: ${input.owner} holds ${input.resourceKey} until ${answer.expiresAt}.`);
    return { acquired: true };
  } catch (e) {
    const f = describeSdkError(e, `Taking the lock on ${input.resourceKey}`);
    context.warn(`acquireLock: ${f.message}`);
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `acquireLock(input)`. */
export const acquireLock: TypedActivity<AcquireLockInput, AcquireLockOutput> = df.app.activity(
  "acquireLock",
  {
    handler: acquireLockHandler,
  },
);
