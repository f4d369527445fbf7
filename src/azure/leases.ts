/**
 * Leases on resources (an APIM service) in Table storage: one entity per resource key in partition
 * {@link LOCK_PARTITION}, taken and renewed with ETag optimistic concurrency, free again when it
 * expires, so updates to one resource never overlap across rollouts.
 */
import type { TableClient } from "@azure/data-tables";
import { resourceLockId } from "../domain/instanceIds.js";
import { describeSdkError } from "./sdkErrors.js";

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

/** The answer of {@link takeLease}. */
export type LeaseAnswer = { acquired: true } | { acquired: false; heldBy: string; retryAfterSeconds: number };

/**
 * Takes (or renews, for the same owner) the lease on `resourceKey` until `now + leaseSeconds`, or
 * says who holds it and when to ask again. Throws storage errors other than losing a race.
 */
export async function takeLease(
  table: TableClient,
  lease: { resourceKey: string; owner: string; leaseSeconds: number },
  now: Date,
): Promise<LeaseAnswer & { expiresAt?: string }> {
  const rowKey = resourceLockId(lease.resourceKey);
  const entity: LockEntity = {
    partitionKey: LOCK_PARTITION,
    rowKey,
    resourceKey: lease.resourceKey,
    owner: lease.owner,
    expiresAt: new Date(now.getTime() + lease.leaseSeconds * 1000).toISOString(),
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
    } else if (existing.owner === lease.owner || new Date(existing.expiresAt) <= now) {
      await table.updateEntity(entity, "Replace", { etag: existing.etag });
    } else {
      const left = Math.ceil((new Date(existing.expiresAt).getTime() - now.getTime()) / 1000);
      return { acquired: false, heldBy: existing.owner, retryAfterSeconds: Math.max(1, Math.min(left, 30)) };
    }
    return { acquired: true, expiresAt: entity.expiresAt };
  } catch (e) {
    const f = describeSdkError(e, `Taking the lock on ${lease.resourceKey}`);
    // 409 (created meanwhile) or 412 (changed meanwhile): someone else won the race.
    if (f.status === 409 || f.status === 412)
      return { acquired: false, heldBy: "unknown", retryAfterSeconds: 1 };
    throw e;
  }
}
