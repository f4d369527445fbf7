/**
 * Activity `applyApimService`: GETs the service, points only the hostname entries bound to this
 * certificate at the new versioned Key Vault secret id and PATCHes the whole array back (PATCH
 * replaces arrays: the built-in and unbound entries go back unchanged); repoints the bound
 * `certificates` entities by id. The state before the write is kept in Table storage first (once
 * per rotation run and step), so a rerun after the write landed answers the same snapshot. Starts
 * the update; does not wait for it.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import {
  apimServiceId,
  isEntry,
  isUpdating,
  patchHostnames,
  repointCertificate,
  repointHostnames,
} from "../azure/apim.js";
import { busyResult, busyWithoutRetryAfter, describeSdkError, retriable } from "../azure/sdkErrors.js";
import { keepSnapshotOnce, readSnapshot } from "../azure/snapshots.js";
import type { ApimServiceSnapshot } from "../domain/rollback.js";
import type { ApplyApimServiceInput, ApplyApimServiceOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Updates one APIM service's bound entries in one write. */
export async function applyApimServiceHandler(
  input: ApplyApimServiceInput,
  context: InvocationContext,
): Promise<ApplyApimServiceOutput> {
  const c = composition();
  const { step } = input;
  const id = apimServiceId(step.serviceId);
  const client = c.apimClient(id.subscriptionId);
  let wroteSomething = false;
  let snapshot: ApimServiceSnapshot | undefined;
  try {
    // 1. Read the service; one infrastructure update at a time.
    const service = await client.apiManagementService.get(id.resourceGroup, id.name);
    const current = service.hostnameConfigurations ?? [];
    const missing = step.hostnames.filter((h) => !current.some((e) => isEntry(e, h)));
    if (missing.length) {
      return {
        status: "failed",
        write: "notApplied",
        reason: "HostnameNotFound",
        message: `APIM ${id.name} has no hostname ${missing.map((m) => `${m.type} ${m.hostName}`).join(", ")}.`,
      };
    }
    const pending = step.hostnames.filter(
      (h) => current.find((e) => isEntry(e, h))?.keyVaultId !== step.keyVaultSecretId,
    );
    if (pending.length && isUpdating(service.provisioningState)) {
      return busyWithoutRetryAfter(
        "ServiceUpdating",
        `APIM ${id.name} is ${service.provisioningState}; another infrastructure update cannot start yet.`,
      );
    }

    // 2. The state before the write, kept durably before anything is written: a rerun after the
    // write landed sees the entries on the new id already and could not tell what they were.
    const entities = await Promise.all(
      step.certificates.map(async (cert) => ({
        certificateId: cert.certificateId,
        entity: await client.certificate.get(id.resourceGroup, id.name, cert.certificateId),
      })),
    );
    const toRepoint = entities.filter((e) => e.entity.keyVault?.secretIdentifier !== step.keyVaultSecretId);
    const seen: ApimServiceSnapshot = {
      kind: "apimService",
      hostnames: step.hostnames.map((h) => {
        const e = current.find((x) => isEntry(x, h));
        const before = e?.keyVaultId !== step.keyVaultSecretId;
        return {
          type: h.type,
          hostName: h.hostName,
          ...(before && e?.keyVaultId ? { previousKeyVaultId: e.keyVaultId } : {}),
          ...(before && e?.certificate?.thumbprint
            ? { previousThumbprint: e.certificate.thumbprint.toUpperCase() }
            : {}),
        };
      }),
      certificates: entities.map(({ certificateId, entity }) => {
        const before = entity.keyVault?.secretIdentifier !== step.keyVaultSecretId;
        return {
          certificateId,
          ...(before && entity.keyVault?.secretIdentifier
            ? { previousSecretIdentifier: entity.keyVault.secretIdentifier }
            : {}),
          ...(before && entity.thumbprint ? { previousThumbprint: entity.thumbprint.toUpperCase() } : {}),
        };
      }),
    };
    snapshot =
      pending.length || toRepoint.length
        ? await keepSnapshotOnce(c, input.rotationId, step.stepId, seen)
        : ((await readSnapshot<ApimServiceSnapshot>(c, input.rotationId, step.stepId)) ?? seen);

    // 3. Certificate entities (not an infrastructure update), by id.
    for (const { certificateId } of toRepoint) {
      await repointCertificate(client, id, certificateId, step.keyVaultSecretId);
      wroteSomething = true;
    }

    // 4. One PATCH with the whole hostname array, when anything changes.
    if (pending.length) {
      const next = repointHostnames(
        current,
        pending.map((h) => ({ ...h, keyVaultId: step.keyVaultSecretId })),
      );
      await patchHostnames(client, id, next);
      wroteSomething = true;
    }
    context.log(
      `applyApimService: ${id.name}: ${pending.length} hostname(s) and ${toRepoint.length} certificate(s) now reference ${step.keyVaultSecretId}.`,
    );
    return { status: "applied", snapshot, ...(wroteSomething ? {} : { detail: "already applied" }) };
  } catch (e) {
    const f = describeSdkError(e, `Updating APIM ${id.name}`);
    context.warn(`applyApimService: ${f.message}`);
    if (f.kind === "busy" && !wroteSomething) return busyResult(f);
    if (f.kind === "notFound" || f.kind === "permanent" || (f.kind === "busy" && wroteSomething)) {
      return {
        status: "failed",
        write: wroteSomething ? "unknown" : "notApplied",
        ...(snapshot ? { snapshot } : {}),
        reason: f.code ?? "UpdateRefused",
        message: f.message,
      };
    }
    // A rerun finds the snapshot kept in step 2.
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `applyApimService(input)`. */
export const applyApimService: TypedActivity<ApplyApimServiceInput, ApplyApimServiceOutput> = df.app.activity(
  "applyApimService",
  { handler: applyApimServiceHandler },
);
