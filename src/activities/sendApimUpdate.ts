/**
 * Activity `sendApimUpdate` (for the holder of the service's lease): sends ONE update carrying every
 * queued change it claims (see `pickBatch` in src/domain/apimBatch.ts):
 *
 * 1. read the queue and the service; a change naming an entry the service lacks fails on its own;
 *    another infrastructure update still running answers `busy` before anything is claimed;
 * 2. keep each rollout's snapshot of the state before (once per run and step, so a rerun after the
 *    write landed still knows the old state), then claim the changes (ETag-conditional: a change its
 *    rollout withdrew meanwhile stays out);
 * 3. point the `certificates` entities at their new secret ids, by id;
 * 4. PATCH the whole hostname array back with every claimed change in it (PATCH replaces arrays: the
 *    built-in and unbound entries go back unchanged). Does not wait for the operation.
 *
 * A refusal settles the claimed changes here: failed when the change went alone, queued again to go
 * alone when it went with others (one bad certificate does not fail the others).
 */
import type { InvocationContext } from "@azure/functions";
import type { ApiManagementClient, HostnameConfiguration } from "@azure/arm-apimanagement";
import type { TableClient } from "@azure/data-tables";
import * as df from "durable-functions";
import { composition, type Composition } from "../composition.js";
import {
  apimServiceId,
  isEntry,
  isUpdating,
  patchHostnames,
  repointCertificate,
  repointHostnames,
} from "../azure/apim.js";
import { listChanges, pruneSettled, replaceChange, type StoredChange } from "../azure/apimQueue.js";
import { busyResult, busyWithoutRetryAfter, describeSdkError, retriable } from "../azure/sdkErrors.js";
import { withPinnedReferences } from "../azure/servedVersion.js";
import { keepSnapshotOnce } from "../azure/snapshots.js";
import { pickBatch, settle, type ApimChange } from "../domain/apimBatch.js";
import type { ApimServiceSnapshot } from "../domain/rollback.js";
import type { SendApimUpdateInput, SendApimUpdateOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/**
 * Settled changes are kept this long after they were queued, then pruned: far longer than a rollout
 * waits for its change (24 h by default) plus its update's provisioning, so no rollout finds its
 * change gone.
 */
const KEEP_SETTLED_MS = 7 * 24 * 3600 * 1000;

/**
 * A change still pending this long after its rollout's wait deadline (or, for a change that names
 * none, after it was queued plus a default 24 h wait) belongs to a rollout that is gone (terminated,
 * not cancelled): a live rollout withdraws its change when its wait deadline passes.
 */
export const ABANDONED_AFTER_MS = 2 * 3600 * 1000;
const DEFAULT_WAIT_MS = 24 * 3600 * 1000;

/** Sends the next update of the service. */
export async function sendApimUpdateHandler(
  input: SendApimUpdateInput,
  context: InvocationContext,
): Promise<SendApimUpdateOutput> {
  const c = composition();
  const id = apimServiceId(input.serviceId);
  const client = c.apimClient(id.subscriptionId);
  const table = await c.lockTable();
  let batch: StoredChange[] = [];
  let claimed: StoredChange[] = [];
  let wroteSomething = false;
  try {
    const queued = await listChanges(table, input.serviceId);
    await pruneSettled(table, input.serviceId, queued, new Date(c.now().getTime() - KEEP_SETTLED_MS));
    await expireAbandoned(c, input.serviceId, queued);
    batch = pickBatch(queued, input.updateId) as StoredChange[];
    if (!batch.length) return { status: "empty" };

    // 1. The service as it is; changes naming entries it lacks fail on their own.
    const service = await client.apiManagementService.get(id.resourceGroup, id.name);
    const current = service.hostnameConfigurations ?? [];
    batch = await failMissingHostnames(table, input.serviceId, batch, current);
    if (!batch.length) return { status: "empty" };
    const differs = (q: StoredChange) =>
      q.change.hostnames.some((h) => current.find((e) => isEntry(e, h))?.keyVaultId !== h.keyVaultId);
    if (batch.some(differs) && isUpdating(service.provisioningState)) {
      return busyWithoutRetryAfter(
        "ServiceUpdating",
        `APIM ${id.name} is ${service.provisioningState}; another infrastructure update cannot start yet.`,
      );
    }

    // 2. Snapshots first, then the claims.
    const entities = await readEntities(client, id, batch);
    for (const q of batch)
      if (q.change.kind === "apply")
        await keepSnapshotOnce(
          c,
          q.change.rotationId,
          q.change.stepId,
          await withPinnedReferences(c, before(q.change, current, entities)),
        );
    claimed = await claim(c, input, batch);
    if (!claimed.length) return { status: "empty" };

    // 3. Certificate entities (not an infrastructure update), by id.
    let certificates = 0;
    for (const q of claimed)
      for (const cert of q.change.certificates) {
        if (entities.get(cert.certificateId)?.secretIdentifier === cert.secretIdentifier) continue;
        await repointCertificate(client, id, cert.certificateId, cert.secretIdentifier);
        wroteSomething = true;
        certificates++;
      }

    // 4. One PATCH carrying every claimed change, when any entry changes.
    const changes = claimed.flatMap((q) => q.change.hostnames);
    const pending = changes.filter((h) => current.find((e) => isEntry(e, h))?.keyVaultId !== h.keyVaultId);
    if (pending.length) {
      await patchHostnames(client, id, repointHostnames(current, pending));
      wroteSomething = true;
    }
    const detail = `${claimed.length} change(s), ${pending.length} hostname(s) and ${certificates} certificate(s) in one update`;
    context.log(`sendApimUpdate: APIM ${id.name}, update ${input.updateId}: ${detail}.`);
    return {
      status: "applied",
      requestIds: claimed.map((q) => q.change.requestId),
      expect: changes,
      detail: wroteSomething ? detail : `${claimed.length} change(s) already applied`,
    };
  } catch (e) {
    const f = describeSdkError(e, `Updating APIM ${id.name}`);
    context.warn(`sendApimUpdate: ${f.message}`);
    // Busy: the claimed changes stay claimed by this update and the rerun resends them (what landed
    // already is skipped; the snapshots were kept before anything was written).
    if (f.kind === "busy") return busyResult(f);
    if (f.kind === "notFound" || f.kind === "permanent") {
      const reason = f.code ?? "UpdateRefused";
      // Refused before the claims (the service itself is unreadable or gone): settle the batch as read.
      const settled = await settleRefused(c, input, claimed.length ? claimed : batch, reason, f.message);
      return { status: "failed", requestIds: settled, reason, message: f.message };
    }
    throw retriable(f);
  }
}

/** Fails the changes of the batch that name hostname entries the service lacks; answers the others. */
async function failMissingHostnames(
  table: TableClient,
  serviceId: string,
  batch: StoredChange[],
  current: readonly HostnameConfiguration[],
): Promise<StoredChange[]> {
  const name = apimServiceId(serviceId).name;
  const kept: StoredChange[] = [];
  for (const q of batch) {
    const missing = q.change.hostnames.filter((h) => !current.some((e) => isEntry(e, h)));
    if (!missing.length) {
      kept.push(q);
      continue;
    }
    await replaceChange(table, serviceId, q, {
      state: "failed",
      reason: "HostnameNotFound",
      message: `APIM ${name} has no hostname ${missing.map((m) => `${m.type} ${m.hostName}`).join(", ")}.`,
    });
  }
  return kept;
}

/** The certificate entities the batch repoints, as they are now (the snapshot of each). */
async function readEntities(
  client: ApiManagementClient,
  id: ReturnType<typeof apimServiceId>,
  batch: StoredChange[],
): Promise<Map<string, { secretIdentifier?: string; thumbprint?: string }>> {
  const entities = new Map<string, { secretIdentifier?: string; thumbprint?: string }>();
  for (const q of batch)
    for (const cert of q.change.certificates) {
      const e = await client.certificate.get(id.resourceGroup, id.name, cert.certificateId);
      entities.set(cert.certificateId, {
        ...(e.keyVault?.secretIdentifier ? { secretIdentifier: e.keyVault.secretIdentifier } : {}),
        ...(e.thumbprint ? { thumbprint: e.thumbprint.toUpperCase() } : {}),
      });
    }
  return entities;
}

/** Fails the pending changes of rollouts that are gone, so no update ever carries them. */
async function expireAbandoned(c: Composition, serviceId: string, queued: StoredChange[]): Promise<void> {
  const table = await c.lockTable();
  const now = c.now().getTime();
  for (const [i, q] of queued.entries()) {
    const withdrawBy = q.change.withdrawBy
      ? Date.parse(q.change.withdrawBy)
      : Date.parse(q.queuedAt) + DEFAULT_WAIT_MS;
    if (q.state !== "pending" || !(withdrawBy + ABANDONED_AFTER_MS < now)) continue;
    const next = await replaceChange(table, serviceId, q, {
      state: "failed",
      reason: "Abandoned",
      message: `Queued at ${q.queuedAt} and never withdrawn by its rollout (due by ${new Date(withdrawBy).toISOString()}): its rollout is gone; not sent.`,
    });
    if (next) queued[i] = next;
  }
}

/** What the entries and entities of an apply change pointed at before it (its rollback target). */
function before(
  change: ApimChange,
  current: readonly HostnameConfiguration[],
  entities: ReadonlyMap<string, { secretIdentifier?: string; thumbprint?: string }>,
): ApimServiceSnapshot {
  return {
    kind: "apimService",
    hostnames: change.hostnames.map((h) => {
      const e = current.find((x) => isEntry(x, h));
      const changes = e?.keyVaultId !== h.keyVaultId;
      return {
        type: h.type,
        hostName: h.hostName,
        ...(changes && e?.keyVaultId ? { previousKeyVaultId: e.keyVaultId } : {}),
        ...(changes && e?.certificate?.thumbprint
          ? { previousThumbprint: e.certificate.thumbprint.toUpperCase() }
          : {}),
      };
    }),
    certificates: change.certificates.map((cert) => {
      const e = entities.get(cert.certificateId);
      const changes = e?.secretIdentifier !== cert.secretIdentifier;
      return {
        certificateId: cert.certificateId,
        ...(changes && e?.secretIdentifier ? { previousSecretIdentifier: e.secretIdentifier } : {}),
        ...(changes && e?.thumbprint ? { previousThumbprint: e.thumbprint } : {}),
      };
    }),
  };
}

/** Claims the batch for the update (a change withdrawn meanwhile stays out); answers the claimed ones. */
async function claim(
  c: Composition,
  input: SendApimUpdateInput,
  batch: StoredChange[],
): Promise<StoredChange[]> {
  const table = await c.lockTable();
  const out: StoredChange[] = [];
  for (const q of batch) {
    if (q.state === "claimed" && q.updateId === input.updateId) {
      out.push(q);
      continue;
    }
    const next = { state: "claimed" as const, updateId: input.updateId, attemptedWrite: true };
    const now = await replaceChange(table, input.serviceId, q, next);
    if (now) out.push(now);
  }
  return out;
}

/** Settles the claimed changes of a refused update; answers their request ids. */
async function settleRefused(
  c: Composition,
  input: SendApimUpdateInput,
  changes: StoredChange[],
  reason: string,
  message: string,
): Promise<string[]> {
  const table = await c.lockTable();
  const settled: string[] = [];
  for (const q of changes) {
    const next = settle(q, { status: "failed", reason, message, isolate: true }, changes.length);
    if (await replaceChange(table, input.serviceId, q, { ...next, updateId: undefined }))
      settled.push(q.change.requestId);
  }
  return settled;
}

/** The registered activity; the lease holder yields `sendApimUpdate(input)`. */
export const sendApimUpdate: TypedActivity<SendApimUpdateInput, SendApimUpdateOutput> = df.app.activity(
  "sendApimUpdate",
  { handler: sendApimUpdateHandler },
);
