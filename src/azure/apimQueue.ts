/**
 * The queue of APIM changes per service (see src/domain/apimBatch.ts), in Table storage: the lease
 * table's account and table, one partition per service, one entity per change. Requesters add and
 * withdraw their own change; only the holder of the service's lease claims and settles changes.
 * Every state change is an ETag-conditional replace, so a withdrawal and a claim cannot both win.
 * Only references go in (hostnames, Key Vault secret ids), never key material.
 */
import { createHash } from "node:crypto";
import type { TableClient } from "@azure/data-tables";
import type { ApimChange, ApimChangeState, QueuedApimChange } from "../domain/apimBatch.js";
import { describeSdkError } from "./sdkErrors.js";

/** A queued change as stored. */
interface QueueEntity {
  partitionKey: string;
  rowKey: string;
  serviceId: string;
  requestId: string;
  /** The {@link ApimChange} as JSON. */
  change: string;
  state: ApimChangeState;
  queuedAt: string;
  solo: boolean;
  attemptedWrite: boolean;
  updateId?: string;
  reason?: string;
  message?: string;
}

/** A queued change with the ETag to change it with. */
export type StoredChange = QueuedApimChange & { etag: string };

const hash = (s: string) => createHash("sha256").update(s).digest("hex");

/** The partition of a service's changes (keys refuse `/`, so a hash of the normalised id). */
export const queuePartition = (serviceId: string): string =>
  `apimq-${hash(serviceId.trim().replace(/\/+$/, "").toLowerCase()).slice(0, 32)}`;

const rowKeyOf = (requestId: string) => hash(requestId);

function toStored(e: QueueEntity & { etag: string }): StoredChange {
  return {
    change: JSON.parse(e.change) as ApimChange,
    state: e.state,
    queuedAt: e.queuedAt,
    solo: e.solo === true,
    attemptedWrite: e.attemptedWrite === true,
    ...(e.updateId ? { updateId: e.updateId } : {}),
    ...(e.reason ? { reason: e.reason } : {}),
    ...(e.message ? { message: e.message } : {}),
    etag: e.etag,
  };
}

function toEntity(serviceId: string, q: QueuedApimChange): QueueEntity {
  return {
    partitionKey: queuePartition(serviceId),
    rowKey: rowKeyOf(q.change.requestId),
    serviceId,
    requestId: q.change.requestId,
    change: JSON.stringify(q.change),
    state: q.state,
    queuedAt: q.queuedAt,
    solo: q.solo,
    attemptedWrite: q.attemptedWrite,
    ...(q.updateId ? { updateId: q.updateId } : {}),
    ...(q.reason ? { reason: q.reason.slice(0, 200) } : {}),
    ...(q.message ? { message: q.message.slice(0, 2000) } : {}),
  };
}

/** Queues `change` unless it is queued already (a rerun); answers the stored change. */
export async function enqueueChange(
  table: TableClient,
  serviceId: string,
  change: ApimChange,
  now: Date,
): Promise<StoredChange> {
  const fresh: QueuedApimChange = {
    change,
    state: "pending",
    queuedAt: now.toISOString(),
    solo: false,
    attemptedWrite: false,
  };
  try {
    await table.createEntity(toEntity(serviceId, fresh));
  } catch (error) {
    if (describeSdkError(error, "queue").status !== 409) throw error;
  }
  const stored = await readChange(table, serviceId, change.requestId);
  if (!stored) throw new Error(`The queued change ${change.requestId} vanished.`);
  return stored;
}

/** The stored change `requestId`, if any. */
export async function readChange(
  table: TableClient,
  serviceId: string,
  requestId: string,
): Promise<StoredChange | undefined> {
  try {
    return toStored(await table.getEntity<QueueEntity>(queuePartition(serviceId), rowKeyOf(requestId)));
  } catch (error) {
    if (describeSdkError(error, "read").kind === "notFound") return undefined;
    throw error;
  }
}

/** Every stored change of the service. */
export async function listChanges(table: TableClient, serviceId: string): Promise<StoredChange[]> {
  const out: StoredChange[] = [];
  const filter = `PartitionKey eq '${queuePartition(serviceId)}'`;
  for await (const e of table.listEntities<QueueEntity>({ queryOptions: { filter } })) out.push(toStored(e));
  return out;
}

/**
 * Replaces a stored change if nobody changed it since it was read, answering it as stored now;
 * undefined when somebody did (412): read it again and decide again.
 */
export async function replaceChange(
  table: TableClient,
  serviceId: string,
  stored: StoredChange,
  next: Partial<Omit<QueuedApimChange, "change" | "queuedAt">>,
): Promise<StoredChange | undefined> {
  const merged: QueuedApimChange = { ...stored, ...next };
  for (const k of ["updateId", "reason", "message"] as const)
    if (k in next && next[k] === undefined) delete merged[k];
  try {
    const res = await table.updateEntity(toEntity(serviceId, merged), "Replace", { etag: stored.etag });
    return { ...merged, etag: res.etag ?? stored.etag };
  } catch (error) {
    if (describeSdkError(error, "update").status === 412) return undefined;
    throw error;
  }
}

/** Deletes settled changes (done, failed, withdrawn) queued before `before`; their rollouts have read them. */
export async function pruneSettled(
  table: TableClient,
  serviceId: string,
  changes: readonly StoredChange[],
  before: Date,
): Promise<number> {
  let n = 0;
  for (const q of changes) {
    if (q.state === "pending" || q.state === "claimed" || q.queuedAt >= before.toISOString()) continue;
    try {
      await table.deleteEntity(queuePartition(serviceId), rowKeyOf(q.change.requestId), { etag: q.etag });
      n++;
    } catch (error) {
      const f = describeSdkError(error, "prune");
      if (f.kind !== "notFound" && f.status !== 412) throw error;
    }
  }
  return n;
}
