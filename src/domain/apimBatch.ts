/**
 * Coalescing APIM updates across rollouts (pure part). A service takes one infrastructure update at a
 * time and each takes minutes (15 or more in Azure), so rollouts of different certificates on one
 * service do not each send their own update: each queues its change (the hostname entries and
 * `certificates` entities it points at new Key Vault secret ids), and whichever rollout holds the
 * service's lease sends every queued change in one update and waits for it on behalf of all.
 *
 * A change that was in an update the service refused or that ended Failed, together with others, is
 * retried on its own (`solo`), so one bad certificate cannot fail the rollouts it was batched with.
 */
import type { ApimServiceStep } from "./plan.js";
import type { ApimRollbackAction } from "./rollback.js";

/** What one rollout asks of one APIM service: set these entries to these Key Vault secret ids. */
export interface ApimChange {
  /** Unique per rollout run, step and direction (see {@link apimRequestId}). */
  requestId: string;
  rotationId: string;
  stepId: string;
  /** `apply` a rollout's new version; `restore` a rollback's previous one (goes first). */
  kind: "apply" | "restore";
  hostnames: { type: string; hostName: string; keyVaultId: string }[];
  certificates: { certificateId: string; secretIdentifier: string }[];
  /**
   * ISO 8601: when its rollout stops waiting and withdraws it (its wait deadline). A change still
   * pending well after that belongs to a rollout that is gone (terminated) and is never sent.
   */
  withdrawBy?: string;
}

/** Where a queued change is. */
export type ApimChangeState =
  /** Waiting for an update (again, after an update that was abandoned or failed with others). */
  | "pending"
  /** In the update `updateId`, sent or about to be sent. */
  | "claimed"
  /** The service provisioned an update carrying it. */
  | "done"
  /** Refused or failed (on its own, or an update that timed out). */
  | "failed"
  /** Taken back by its rollout before any update claimed it. */
  | "withdrawn";

/** A queued change with its progress. */
export interface QueuedApimChange {
  change: ApimChange;
  state: ApimChangeState;
  /** ISO 8601: when it was queued (order of service). */
  queuedAt: string;
  /** Goes in an update of its own. */
  solo: boolean;
  /** An update carrying it was sent at least once: it may have landed. */
  attemptedWrite: boolean;
  updateId?: string;
  reason?: string;
  message?: string;
}

/** Most changes one update carries. */
export const MAX_BATCH = 50;

/** The id of a rollout run's change to one step. */
export const apimRequestId = (rotationId: string, stepId: string, kind: ApimChange["kind"]): string =>
  `${rotationId}|${stepId}|${kind}`;

/** A rollout's change: every bound entry and entity to the new version's secret id. */
export function applyChange(rotationId: string, step: ApimServiceStep): ApimChange {
  return {
    requestId: apimRequestId(rotationId, step.stepId, "apply"),
    rotationId,
    stepId: step.stepId,
    kind: "apply",
    hostnames: step.hostnames.map((h) => ({
      type: h.type,
      hostName: h.hostName,
      keyVaultId: step.keyVaultSecretId,
    })),
    certificates: step.certificates.map((c) => ({
      certificateId: c.certificateId,
      secretIdentifier: step.keyVaultSecretId,
    })),
  };
}

/** A rollback's change: every entry and entity back to what the snapshot recorded. */
export function restoreChange(rotationId: string, action: ApimRollbackAction): ApimChange {
  return {
    requestId: apimRequestId(rotationId, action.stepId, "restore"),
    rotationId,
    stepId: action.stepId,
    kind: "restore",
    hostnames: action.hostnames.map((h) => ({
      type: h.type,
      hostName: h.hostName,
      keyVaultId: h.keyVaultId,
    })),
    certificates: action.certificates.map((c) => ({ ...c })),
  };
}

const norm = (s: string) => s.trim().toLowerCase().replace(/\.$/, "");
const entryKey = (h: { type: string; hostName: string }) => `h:${norm(h.type)}:${norm(h.hostName)}`;
const touched = (c: ApimChange): string[] => [
  ...c.hostnames.map(entryKey),
  ...c.certificates.map((e) => `c:${norm(e.certificateId)}`),
];

/** Service order: rollbacks first (a broken hop is waiting on them), then first come, first served. */
export function serviceOrder(a: QueuedApimChange, b: QueuedApimChange): number {
  if (a.change.kind !== b.change.kind) return a.change.kind === "restore" ? -1 : 1;
  if (a.queuedAt !== b.queuedAt) return a.queuedAt < b.queuedAt ? -1 : 1;
  return a.change.requestId < b.change.requestId ? -1 : a.change.requestId > b.change.requestId ? 1 : 0;
}

/**
 * The changes the next update carries, given every queued change of the service and the update id
 * about to be sent. Changes `updateId` already claimed (a rerun of the same update) are the batch
 * as they are. Otherwise: pending changes and changes claimed by another update (whose sender lost
 * the lease: the lease holder is the only sender), in service order; a solo change first in line goes
 * alone, others are skipped; a change touching an entry an earlier one in the batch touches waits for
 * the next update; at most {@link MAX_BATCH}.
 */
export function pickBatch(queued: readonly QueuedApimChange[], updateId: string): QueuedApimChange[] {
  const mine = queued.filter((q) => q.state === "claimed" && q.updateId === updateId);
  if (mine.length) return [...mine].sort(serviceOrder);
  const open = queued.filter((q) => q.state === "pending" || q.state === "claimed").sort(serviceOrder);
  const first = open[0];
  if (!first) return [];
  if (first.solo) return [first];
  const batch: QueuedApimChange[] = [];
  const taken = new Set<string>();
  for (const q of open) {
    if (batch.length >= MAX_BATCH) break;
    if (q.solo) continue;
    const keys = touched(q.change);
    if (keys.some((k) => taken.has(k))) continue;
    for (const k of keys) taken.add(k);
    batch.push(q);
  }
  return batch;
}

/** How a batch's update ended, as its sender saw it. */
export type BatchOutcome =
  | { status: "done" }
  /** `isolate`: the failure may belong to one change (refused, ended Failed): retry each alone. */
  | { status: "failed"; reason: string; message: string; isolate: boolean }
  /** The sender stopped waiting (cancelled, lease lost): whether it landed is unknown; serve again. */
  | { status: "abandoned" };

/** A change's next state once its update ended as `outcome` in a batch of `batchSize`. */
export function settle(
  q: QueuedApimChange,
  outcome: BatchOutcome,
  batchSize: number,
): Pick<QueuedApimChange, "state" | "solo" | "reason" | "message"> {
  switch (outcome.status) {
    case "done":
      return { state: "done", solo: q.solo };
    case "abandoned":
      return { state: "pending", solo: q.solo };
    case "failed":
      return outcome.isolate && batchSize > 1
        ? { state: "pending", solo: true }
        : { state: "failed", solo: q.solo, reason: outcome.reason, message: outcome.message };
  }
}
