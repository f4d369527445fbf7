/**
 * Activity `applyApimService`: GETs the service, points only the hostname entries bound to this
 * certificate at the new versioned Key Vault secret id and PATCHes the whole array back (PATCH
 * replaces arrays: the built-in and unbound entries go back unchanged); repoints the bound
 * `certificates` entities by id. Starts the update; does not wait for it.
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
    const snapshot: ApimServiceSnapshot = {
      kind: "apimService",
      hostnames: step.hostnames.map((h) => {
        const e = current.find((x) => isEntry(x, h));
        return {
          type: h.type,
          hostName: h.hostName,
          ...(e?.keyVaultId && e.keyVaultId !== step.keyVaultSecretId
            ? { previousKeyVaultId: e.keyVaultId }
            : {}),
          ...(e?.certificate?.thumbprint && e.keyVaultId !== step.keyVaultSecretId
            ? { previousThumbprint: e.certificate.thumbprint.toUpperCase() }
            : {}),
        };
      }),
      certificates: [],
    };

    // 2. Certificate entities (not an infrastructure update), by id.
    for (const cert of step.certificates) {
      const entity = await client.certificate.get(id.resourceGroup, id.name, cert.certificateId);
      if (entity.keyVault?.secretIdentifier === step.keyVaultSecretId) {
        snapshot.certificates.push({ certificateId: cert.certificateId });
        continue;
      }
      const prev = await repointCertificate(client, id, cert.certificateId, step.keyVaultSecretId);
      wroteSomething = true;
      snapshot.certificates.push({
        certificateId: cert.certificateId,
        ...(prev.previousSecretIdentifier ? { previousSecretIdentifier: prev.previousSecretIdentifier } : {}),
        ...(prev.previousThumbprint ? { previousThumbprint: prev.previousThumbprint.toUpperCase() } : {}),
      });
    }

    // 3. One PATCH with the whole hostname array, when anything changes.
    if (pending.length) {
      const next = repointHostnames(
        current,
        pending.map((h) => ({ ...h, keyVaultId: step.keyVaultSecretId })),
      );
      await patchHostnames(client, id, next);
      wroteSomething = true;
    }
    context.log(
      `applyApimService: ${id.name}: ${pending.length} hostname(s) and ${step.certificates.length} certificate(s) now reference ${step.keyVaultSecretId}.`,
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
        reason: f.code ?? "UpdateRefused",
        message: f.message,
      };
    }
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `applyApimService(input)`. */
export const applyApimService: TypedActivity<ApplyApimServiceInput, ApplyApimServiceOutput> = df.app.activity(
  "applyApimService",
  { handler: applyApimServiceHandler },
);
