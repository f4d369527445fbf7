/**
 * Activity `acquireLock`: a lease on one resource (an APIM service) in Table storage — one entity
 * per resource key, taken and renewed with ETag optimistic concurrency, free again when it expires,
 * so updates to one resource never overlap across rollouts.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { resourceLockId } from "../domain/instanceIds.js";
import type { AcquireLockInput, AcquireLockOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Partition of the lease entities. */
export const LOCK_PARTITION = "locks";

/** A lease entity. */
export interface LockEntity {
  partitionKey: string;
  rowKey: string;
  resourceKey: string;
  owner: string;
  /** ISO 8601. */
  expiresAt: string;
}

/** Takes (or renews) the lease, or says who holds it and for how long. */
export async function acquireLockHandler(
  input: AcquireLockInput,
  context: InvocationContext,
): Promise<AcquireLockOutput> {
  const c = composition();
  const table = await c.lockTable();
  const rowKey = resourceLockId(input.resourceKey);
  const now = c.now();
  const entity: LockEntity = {
    partitionKey: LOCK_PARTITION,
    rowKey,
    resourceKey: input.resourceKey,
    owner: input.owner,
    expiresAt: new Date(now.getTime() + input.leaseSeconds * 1000).toISOString(),
  };
  try {
    let existing: (LockEntity & { etag: string }) | undefined;
    try {
      existing = await table.getEntity<LockEntity>(LOCK_PARTITION, rowKey);
    } catch (e) {
      if (describeSdkError(e, "read").kind !== "notFound") throw e;
    }
    if (!existing) {
      await table.createEntity(entity);
    } else if (existing.owner === input.owner || new Date(existing.expiresAt) <= now) {
      await table.updateEntity(entity, "Replace", { etag: existing.etag });
    } else {
      const left = Math.ceil((new Date(existing.expiresAt).getTime() - now.getTime()) / 1000);
      return { acquired: false, heldBy: existing.owner, retryAfterSeconds: Math.max(1, Math.min(left, 30)) };
    }
    context.log(`acquireLock: ${input.owner} holds ${input.resourceKey} until ${entity.expiresAt}.`);
    return { acquired: true };
  } catch (e) {
    const f = describeSdkError(e, `Taking the lock on ${input.resourceKey}`);
    // 409 (created meanwhile) or 412 (changed meanwhile): someone else won the race.
    if (f.status === 409 || f.status === 412)
      return { acquired: false, heldBy: "unknown", retryAfterSeconds: 1 };
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
