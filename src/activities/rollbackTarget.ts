/**
 * Activity `rollbackTarget`: applies one rollback action — restore a Secret from its backup (or a
 * vault version, or delete it; `planSecretRestore` in src/domain/secretWrite.ts decides which), or repoint Front Door domains at their previous secrets and delete
 * the secret created for the new version once nothing references it. (APIM entries go back through
 * the service's update queue: see src/orchestrations/apimChange.ts.)
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition, type Composition } from "../composition.js";
import { frontDoorProfileId, domainSecret, putSecret, repointDomain } from "../azure/frontDoor.js";
import { withCertificateMaterial } from "../azure/keyVault.js";
import { busyResult, describeSdkError, retriable } from "../azure/sdkErrors.js";
import type { V1Secret } from "@kubernetes/client-node";
import type { FrontDoorRollbackAction, KubernetesRollbackAction, Reasoned } from "../domain/rollback.js";
import { planSecretRestore, rollbackMarker, type SecretRestorePlan } from "../domain/secretWrite.js";
import {
  backupOwner,
  carried,
  leafThumbprint,
  secretData,
  withContent,
} from "../kubernetes/secretContent.js";
import {
  CERTIFICATE_ANNOTATION,
  ROTATION_ANNOTATION,
  THUMBPRINT_ANNOTATION,
  VERSION_ANNOTATION,
  deleteSecret,
  kubeApis,
  readSecret,
  replaceSecret,
  restartDeployment,
  type KubeApis,
} from "../kubernetes/tlsSecrets.js";
import type { RollbackTargetInput, RollbackTargetOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

const KEYS = (a: { writeTls: boolean; writeCa: boolean }) => [
  ...(a.writeTls ? ["tls.crt", "tls.key"] : []),
  ...(a.writeCa ? ["ca.crt"] : []),
];

/** The certificate a Secret's binding annotation names (`vault/certificate`), when it names one. */
function annotatedCertificate(s: V1Secret): { vaultName: string; certificateName: string } | undefined {
  const [vaultName, certificateName] = s.metadata?.annotations?.[CERTIFICATE_ANNOTATION]?.split("/") ?? [];
  return vaultName && certificateName ? { vaultName, certificateName } : undefined;
}

/** Reads the Secret (and the backup a backup restore names) and decides the rollback. */
async function readAndPlan(c: Composition, apis: KubeApis, a: KubernetesRollbackAction, rotationId: string) {
  const role = a.writeTls ? "tls" : "ca";
  const current = await readSecret(apis, a.namespace, a.secretName);
  const backupName = a.restore.from === "backupSecret" ? a.restore.secretName : undefined;
  const backup = current && backupName ? await readSecret(apis, a.namespace, backupName) : undefined;
  const writtenBy = current?.metadata?.annotations?.[ROTATION_ANNOTATION];
  const resourceVersion = current?.metadata?.resourceVersion;
  const certificate = current ? annotatedCertificate(current) : undefined;
  const plan = planSecretRestore({
    action: a,
    rotationId,
    ...(current
      ? {
          secret: {
            carried: carried(current, role),
            ...(writtenBy ? { writtenBy } : {}),
            ...(resourceVersion ? { resourceVersion } : {}),
            ...(certificate ? { certificate } : {}),
          },
        }
      : {}),
    ...(backupName
      ? { backup: { owner: backupOwner(backup, a.secretName), carried: carried(backup, role) } }
      : {}),
    vaultUrl: (name) => c.vaultUrl(name),
    names: {
      secret: `${a.namespace}/${a.secretName}`,
      ...(backupName ? { backup: `${a.namespace}/${backupName}` } : {}),
    },
  });
  return { current, backup, plan };
}

/** The data keys to put back, and the version and thumbprint they carry, from the backup or a vault version. */
async function restoredContent(
  c: Composition,
  a: KubernetesRollbackAction,
  plan: Extract<SecretRestorePlan, { action: "restoreFromBackup" | "restoreFromVault" }>,
  backup: V1Secret | undefined,
): Promise<{ data: Record<string, string>; version?: string; thumbprint?: string } | Reasoned> {
  if (plan.action === "restoreFromBackup") {
    const data = Object.fromEntries(
      KEYS(a).flatMap((k) => (backup?.data?.[k] !== undefined ? [[k, backup.data[k]]] : [])),
    );
    return { data, ...plan.carried };
  }
  const built = await withCertificateMaterial(
    c.secretClient(plan.vaultUrl),
    plan.certificateName,
    plan.version,
    (m) => ({ d: secretData(m, a.writeTls, a.writeCa), t: leafThumbprint(m.chainPem[0]) }),
  );
  if ("problem" in built) return built.problem;
  if ("reason" in built.d) return built.d;
  return { data: built.d.data, version: plan.version, ...(built.t ? { thumbprint: built.t } : {}) };
}

/** Restarts the action's Deployments when restarts are on, once per rollback (a retry does not restart again). */
async function restartAfterRestore(
  c: Composition,
  apis: KubeApis,
  a: KubernetesRollbackAction,
  input: RollbackTargetInput,
): Promise<void> {
  if (!input.restartDeployments) return;
  for (const d of a.restartDeployments)
    await restartDeployment(apis, a.namespace, d, c.now(), rollbackMarker(input.rotationId));
}

async function rollbackKubernetes(
  c: Composition,
  a: KubernetesRollbackAction,
  input: RollbackTargetInput,
): Promise<RollbackTargetOutput> {
  const { rotationId } = input;
  const apis = kubeApis(await c.kubeConfig(a.cluster));
  const where = `Secret ${a.namespace}/${a.secretName}`;
  const { current, backup, plan } = await readAndPlan(c, apis, a, rotationId);
  switch (plan.action) {
    case "refuse":
      return { status: "failed", write: "notApplied", reason: plan.reason, message: plan.message };
    case "alreadyRestored":
      await restartAfterRestore(c, apis, a, input);
      return { status: "applied", snapshot: undefined, detail: "already restored" };
    case "delete":
      await deleteSecret(apis, a.namespace, a.secretName);
      return { status: "applied", snapshot: undefined, detail: `${where} deleted (it did not exist before)` };
  }
  const content = await restoredContent(c, a, plan, backup);
  if ("reason" in content) return { status: "failed", write: "notApplied", ...content };
  await replaceSecret(
    apis,
    withContent(current!, content.data, {
      [VERSION_ANNOTATION]: content.version,
      [THUMBPRINT_ANNOTATION]: content.thumbprint,
      [ROTATION_ANNOTATION]: rollbackMarker(rotationId),
    }),
  );
  await restartAfterRestore(c, apis, a, input);
  return {
    status: "applied",
    snapshot: undefined,
    detail: `${where} restored${content.version ? ` to ${content.version}` : ""}`,
  };
}

async function rollbackFrontDoor(c: Composition, a: FrontDoorRollbackAction): Promise<RollbackTargetOutput> {
  const p = frontDoorProfileId(a.profileId);
  const client = c.cdnClient(p.subscriptionId);
  let n = 0;
  for (const d of a.customDomains) {
    const now = await domainSecret(client, p, d.name);
    if (now.secretName === d.secretName) continue;
    // A 'Latest' secret is replaced by one pinned to the version it served (create-or-replace).
    if (d.pin) {
      const pollMs = Math.max(50, 1000 / c.config.timeScale);
      await putSecret(client, p, d.secretName, d.pin.secretSourceId, d.pin.version, pollMs);
    }
    await repointDomain(client, p, d.name, d.secretName, now.minimumTlsVersion);
    n++;
  }
  return {
    status: "applied",
    snapshot: undefined,
    detail: `Front Door ${p.name}: ${n} domain(s) repointed to their previous secrets`,
  };
}

/**
 * Deletes the secret created for the new version once the rollback is verified and no custom domain
 * of the profile references it (cleanupTarget runs only after a Succeeded, so a rolled-back secret
 * would stay forever; an unverified rollback keeps it, for a person to repoint).
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
        ? await rollbackKubernetes(c, a, input)
        : input.phase === "deleteCreated"
          ? ({
              status: "applied",
              snapshot: undefined,
              detail: await deleteCreatedSecret(c, a, context),
            } as const)
          : await rollbackFrontDoor(c, a);
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
