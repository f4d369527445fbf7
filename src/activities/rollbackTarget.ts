/**
 * Activity `rollbackTarget`: applies one rollback action — restore a Secret from its backup (or a
 * vault version, or delete it), or repoint Front Door domains at their previous secrets and delete
 * the secret created for the new version once nothing references it. (APIM entries go back through
 * the service's update queue: see src/orchestrations/apimChange.ts.)
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition, type Composition } from "../composition.js";
import { frontDoorProfileId, domainSecret, repointDomain } from "../azure/frontDoor.js";
import { withCertificateMaterial } from "../azure/keyVault.js";
import { busyResult, describeSdkError, retriable } from "../azure/sdkErrors.js";
import type { FrontDoorRollbackAction, KubernetesRollbackAction } from "../domain/rollback.js";
import {
  backupOwner,
  carried,
  leafThumbprint,
  secretData,
  withContent,
} from "../kubernetes/secretContent.js";
import {
  ROTATION_ANNOTATION,
  THUMBPRINT_ANNOTATION,
  VERSION_ANNOTATION,
  deleteSecret,
  kubeApis,
  readSecret,
  replaceSecret,
  restartDeployment,
} from "../kubernetes/tlsSecrets.js";
import type { RollbackTargetInput, RollbackTargetOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

const KEYS = (a: { writeTls: boolean; writeCa: boolean }) => [
  ...(a.writeTls ? ["tls.crt", "tls.key"] : []),
  ...(a.writeCa ? ["ca.crt"] : []),
];

async function rollbackKubernetes(
  c: Composition,
  a: KubernetesRollbackAction,
  rotationId: string,
): Promise<RollbackTargetOutput> {
  const apis = kubeApis(await c.kubeConfig(a.cluster));
  const where = `Secret ${a.namespace}/${a.secretName}`;
  const current = await readSecret(apis, a.namespace, a.secretName);
  if (a.restore.from === "delete") {
    if (
      current &&
      a.expectedResourceVersion &&
      current.metadata?.resourceVersion !== a.expectedResourceVersion
    ) {
      return {
        status: "failed",
        write: "notApplied",
        reason: "ModifiedSinceWrite",
        message: `${where} was changed by someone else after our write; it was left alone.`,
      };
    }
    await deleteSecret(apis, a.namespace, a.secretName);
    return { status: "applied", snapshot: undefined, detail: `${where} deleted (it did not exist before)` };
  }
  if (!current) {
    return {
      status: "failed",
      write: "notApplied",
      reason: "SecretMissing",
      message: `${where} no longer exists.`,
    };
  }
  if (a.expectedResourceVersion && current.metadata?.resourceVersion !== a.expectedResourceVersion) {
    // Already restored by a previous attempt of this action?
    const restoredBy = current.metadata?.annotations?.[ROTATION_ANNOTATION];
    if (restoredBy === `${rotationId}:rollback`)
      return { status: "applied", snapshot: undefined, detail: "already restored" };
    return {
      status: "failed",
      write: "notApplied",
      reason: "ModifiedSinceWrite",
      message: `${where} was changed by someone else after our write; it was left alone.`,
    };
  }
  let data: Record<string, string>;
  let version: string | undefined;
  let thumbprint: string | undefined;
  if (a.restore.from === "backupSecret") {
    const backup = await readSecret(apis, a.namespace, a.restore.secretName);
    if (!backup)
      return {
        status: "failed",
        write: "notApplied",
        reason: "BackupMissing",
        message: `The backup Secret ${a.namespace}/${a.restore.secretName} is gone.`,
      };
    // Only a backup this run made holds the state before it.
    const owner = backupOwner(backup, a.secretName);
    if (owner.kind !== "ours" || owner.rotationId !== rotationId)
      return {
        status: "failed",
        write: "notApplied",
        reason: owner.kind === "ours" ? "BackupFromAnotherRotation" : "BackupNotOurs",
        message: `The Secret ${a.namespace}/${a.restore.secretName} is ${owner.kind === "ours" ? `a backup made by another rotation run (${owner.rotationId ?? "unnamed"})` : "not a backup this control plane made"}, so ${where} was not restored from it.`,
      };
    data = Object.fromEntries(
      KEYS(a).flatMap((k) => (backup.data?.[k] !== undefined ? [[k, backup.data[k]]] : [])),
    );
    ({ version, thumbprint } = carried(backup, a.writeTls ? "tls" : "ca"));
  } else {
    const vaultName = current.metadata?.annotations?.["cert-rotation.e2e/certificate"]?.split("/")[0];
    const certName = current.metadata?.annotations?.["cert-rotation.e2e/certificate"]?.split("/")[1];
    const vaultUrl = vaultName ? c.vaultUrl(vaultName) : undefined;
    if (!vaultUrl || !certName)
      return {
        status: "failed",
        write: "notApplied",
        reason: "PreviousVersionUnknown",
        message: `${where} names no allowed vault certificate.`,
      };
    const restoreVersion = a.restore.version;
    const built = await withCertificateMaterial(c.secretClient(vaultUrl), certName, restoreVersion, (m) => ({
      d: secretData(m, a.writeTls, a.writeCa),
      t: leafThumbprint(m.chainPem[0]),
    }));
    if ("problem" in built) return { status: "failed", write: "notApplied", ...built.problem };
    if ("reason" in built.d) return { status: "failed", write: "notApplied", ...built.d };
    data = built.d.data;
    version = restoreVersion;
    thumbprint = built.t;
  }
  await replaceSecret(
    apis,
    withContent(current, data, {
      [VERSION_ANNOTATION]: version,
      [THUMBPRINT_ANNOTATION]: thumbprint,
      [ROTATION_ANNOTATION]: `${rotationId}:rollback`,
    }),
  );
  for (const d of a.restartDeployments) await restartDeployment(apis, a.namespace, d, c.now());
  return {
    status: "applied",
    snapshot: undefined,
    detail: `${where} restored${version ? ` to ${version}` : ""}`,
  };
}

async function rollbackFrontDoor(
  c: Composition,
  a: FrontDoorRollbackAction,
  context: InvocationContext,
): Promise<RollbackTargetOutput> {
  const p = frontDoorProfileId(a.profileId);
  const client = c.cdnClient(p.subscriptionId);
  let n = 0;
  for (const d of a.customDomains) {
    const now = await domainSecret(client, p, d.name);
    if (now.secretName === d.secretName) continue;
    await repointDomain(client, p, d.name, d.secretName, now.minimumTlsVersion);
    n++;
  }
  const removed = await deleteCreatedSecret(c, a, context);
  return {
    status: "applied",
    snapshot: undefined,
    detail: `Front Door ${p.name}: ${n} domain(s) repointed to their previous secrets; ${removed}`,
  };
}

/**
 * Deletes the secret created for the new version once no custom domain of the profile references
 * it (cleanupTarget runs only after a Succeeded, so a rolled-back secret would stay forever).
 * Idempotent: a secret already gone is fine. Never fails the rollback, whose point is the repoint:
 * a secret that cannot be deleted now is named in the detail.
 */
async function deleteCreatedSecret(
  c: Composition,
  a: FrontDoorRollbackAction,
  context: InvocationContext,
): Promise<string> {
  const name = a.deleteSecretName;
  const same = (x: string | undefined) => (x ?? "").toLowerCase() === name.toLowerCase();
  if (!name || a.customDomains.some((d) => same(d.secretName)))
    return "no secret of ours to delete (the previous secret is the same one)";
  const p = frontDoorProfileId(a.profileId);
  const client = c.cdnClient(p.subscriptionId);
  try {
    const users: string[] = [];
    for await (const d of client.afdCustomDomains.listByProfile(p.resourceGroup, p.name)) {
      if (same(d.tlsSettings?.secret?.id?.split("/").pop()) && d.name) users.push(d.name);
    }
    if (users.length) return `secret ${name} kept: custom domain(s) ${users.join(", ")} still use it`;
    await client.secrets.get(p.resourceGroup, p.name, name); // 404: already gone (DELETE would say 204)
    await client.secrets.beginDeleteAndWait(p.resourceGroup, p.name, name, {
      updateIntervalInMs: Math.max(50, 1000 / c.config.timeScale),
    });
    return `secret ${name} deleted`;
  } catch (e) {
    const f = describeSdkError(e, `Deleting Front Door secret ${name}`);
    if (f.kind === "notFound") return `secret ${name} was already gone`;
    context.warn(`rollbackTarget: ${f.message}`);
    return `secret ${name} left in place (${f.message.replace(/\.$/, "")})`;
  }
}

/** Applies one rollback action. */
export async function rollbackTargetHandler(
  input: RollbackTargetInput,
  context: InvocationContext,
): Promise<RollbackTargetOutput> {
  const c = composition();
  const a = input.action;
  try {
    const out =
      a.kind === "kubernetesSecret"
        ? await rollbackKubernetes(c, a, input.rotationId)
        : await rollbackFrontDoor(c, a, context);
    context.log(
      `rollbackTarget: ${a.stepId}: ${out.status}${"detail" in out && out.detail ? ` (${out.detail})` : ""}${"message" in out ? ` (${out.message})` : ""}.`,
    );
    return out;
  } catch (e) {
    const f = describeSdkError(e, `Rolling back ${a.stepId}`);
    context.warn(`rollbackTarget: ${f.message}`);
    if (f.kind === "busy") return busyResult(f);
    if (f.kind === "notFound" || f.kind === "permanent")
      return { status: "failed", write: "unknown", reason: f.code ?? "RollbackRefused", message: f.message };
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `rollbackTarget(input)`. */
export const rollbackTarget: TypedActivity<RollbackTargetInput, RollbackTargetOutput> = df.app.activity(
  "rollbackTarget",
  { handler: rollbackTargetHandler },
);
