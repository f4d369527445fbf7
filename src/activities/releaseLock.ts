/**
 * Activity `releaseLock`: releases a lease held by `owner` (a no-op otherwise).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { resourceLockId } from "../domain/instanceIds.js";
import { LOCK_PARTITION, type LockEntity } from "./acquireLock.js";
import type { ReleaseLockInput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Whether a lease held by the owner was released. */
export interface ReleaseLockOutput {
  released: boolean;
}

/** Releases the owner's lease. */
export async function releaseLockHandler(
  input: ReleaseLockInput,
  context: InvocationContext,
): Promise<ReleaseLockOutput> {
  const table = await composition().lockTable();
  const rowKey = resourceLockId(input.resourceKey);
  try {
    const existing = await table.getEntity<LockEntity>(LOCK_PARTITION, rowKey);
    if (existing.owner !== input.owner) return { released: false };
    await table.deleteEntity(LOCK_PARTITION, rowKey, { etag: existing.etag });
    context.log(`releaseLock: ${input.owner} released ${input.resourceKey}.`);
    return { released: true };
  } catch (e) {
    const f = describeSdkError(e, `Releasing the lock on ${input.resourceKey}`);
    if (f.kind === "notFound" || f.status === 412) return { released: false };
    context.warn(`releaseLock: ${f.message}`);
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `releaseLock(input)`. */
export const releaseLock: TypedActivity<ReleaseLockInput, ReleaseLockOutput> = df.app.activity(
  "releaseLock",
  {
    handler: releaseLockHandler,
  },
);
