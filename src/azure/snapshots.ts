/**
 * Snapshots of a target taken before a write, kept in Table storage (the lease table's account and
 * table, partition {@link SNAPSHOT_PARTITION}) so that a rerun of the write activity — after a crash
 * or a retriable error once the write had landed — still knows the state before the first attempt.
 * One entity per rotation run and plan step, written once and never overwritten. Only references
 * and thumbprints go in, never key material.
 */
import { createHash } from "node:crypto";
import type { Composition } from "../composition.js";
import { describeSdkError } from "./sdkErrors.js";

/** Partition of the snapshot entities in the lease table. */
export const SNAPSHOT_PARTITION = "snapshots";

/** A stored snapshot. */
interface SnapshotEntity {
  partitionKey: string;
  rowKey: string;
  rotationId: string;
  stepId: string;
  /** ISO 8601. */
  takenAt: string;
  /** The snapshot as JSON. */
  snapshot: string;
}

/** Row key of a run's step: a hash, since step ids hold characters row keys refuse (`/`). */
const rowKeyOf = (rotationId: string, stepId: string): string =>
  createHash("sha256").update(`${rotationId}\n${stepId}`).digest("hex");

/** The snapshot kept for `rotationId` and `stepId`, if one was. Throws storage errors. */
export async function readSnapshot<T>(
  c: Composition,
  rotationId: string,
  stepId: string,
): Promise<T | undefined> {
  const table = await c.lockTable();
  try {
    const e = await table.getEntity<SnapshotEntity>(SNAPSHOT_PARTITION, rowKeyOf(rotationId, stepId));
    return JSON.parse(e.snapshot) as T;
  } catch (error) {
    if (describeSdkError(error, "read").kind === "notFound") return undefined;
    throw error;
  }
}

/**
 * Keeps `snapshot` for `rotationId` and `stepId` unless one is kept already, and answers the kept
 * one (the state before the run's first attempt). Throws storage errors: a write must not start
 * before its snapshot is safe.
 */
export async function keepSnapshotOnce<T>(
  c: Composition,
  rotationId: string,
  stepId: string,
  snapshot: T,
): Promise<T> {
  const table = await c.lockTable();
  const entity: SnapshotEntity = {
    partitionKey: SNAPSHOT_PARTITION,
    rowKey: rowKeyOf(rotationId, stepId),
    rotationId,
    stepId,
    takenAt: c.now().toISOString(),
    snapshot: JSON.stringify(snapshot),
  };
  try {
    await table.createEntity(entity);
    return snapshot;
  } catch (error) {
    if (describeSdkError(error, "keep").status !== 409) throw error;
    const kept = await readSnapshot<T>(c, rotationId, stepId);
    if (kept === undefined) throw error;
    return kept;
  }
}
