/**
 * Activity `applyKubernetesSecret`: writes tls.crt/tls.key (and/or ca.crt) of the new version into
 * one Secret, with a `resourceVersion` precondition, after keeping a backup Secret
 * `<name>-previous` for rollback (only ever one we made: a foreign Secret of that name stops the
 * write); optionally restarts the step's Deployments. The key material is
 * fetched from Key Vault here and goes nowhere but the Secret.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { V1Secret } from "@kubernetes/client-node";
import { composition } from "../composition.js";
import { busyResult, describeSdkError, retriable } from "../azure/sdkErrors.js";
import { withCertificateMaterial } from "../azure/keyVault.js";
import type { KubernetesSecretSnapshot } from "../domain/rollback.js";
import { normaliseThumbprint } from "../domain/x509.js";
import {
  backupName,
  backupOf,
  backupOwner,
  carried,
  leafThumbprint,
  secretData,
  withContent,
} from "../kubernetes/secretContent.js";
import {
  CERTIFICATE_ANNOTATION,
  ROLE_ANNOTATION,
  ROTATION_ANNOTATION,
  THUMBPRINT_ANNOTATION,
  VERSION_ANNOTATION,
  createSecret,
  kubeApis,
  readSecret,
  replaceSecret,
  restartDeployment,
} from "../kubernetes/tlsSecrets.js";
import type { ApplyKubernetesSecretInput, ApplyKubernetesSecretOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Writes the new version into one Secret. */
export async function applyKubernetesSecretHandler(
  input: ApplyKubernetesSecretInput,
  context: InvocationContext,
): Promise<ApplyKubernetesSecretOutput> {
  const c = composition();
  const { step, certificate } = input;
  const where = `Secret ${step.namespace}/${step.secretName}`;
  let afterWrite: KubernetesSecretSnapshot | undefined;
  try {
    const apis = kubeApis(await c.kubeConfig(step.cluster));
    const existing = await readSecret(apis, step.namespace, step.secretName);
    const backup = existing ? await readSecret(apis, step.namespace, backupName(step.secretName)) : undefined;
    const annotations = existing?.metadata?.annotations ?? {};
    const role = step.writeTls ? "tls" : "ca";
    // What the Secret really carries: tls.crt's leaf decides, our annotations only while they agree.
    const now = carried(existing, role);
    // The backup is ours only when we marked it so; it is this run's snapshot only when this run made it.
    const owner = backupOwner(backup, step.secretName);
    const backupOfThisRun = owner.kind === "ours" && owner.rotationId === input.rotationId;
    const ourWriteLanded = annotations[ROTATION_ANNOTATION] === input.rotationId;
    if (owner.kind === "foreign") {
      return {
        status: "failed",
        write: ourWriteLanded ? "unknown" : "notApplied",
        reason: "BackupNameTaken",
        message: `Secret ${step.namespace}/${backupName(step.secretName)} exists and is not a backup this control plane made, so it was left alone and ${where} was not ${ourWriteLanded ? "confirmed" : "written"}; rename or remove it so the previous certificate can be kept for rollback.`,
      };
    }

    // 1. Already written by this rotation (a retry): answer with the snapshot kept in this run's
    // backup. A Secret that existed always gets that backup before our write, so without one the
    // write created the Secret (a backup of another run is stale and says nothing about this one).
    if (
      existing &&
      now.version === certificate.version &&
      (!certificate.thumbprint || now.thumbprint === normaliseThumbprint(certificate.thumbprint)) &&
      ourWriteLanded
    ) {
      const prev = backupOfThisRun ? carried(backup, role) : {};
      context.log(`applyKubernetesSecret: ${where} already carries ${certificate.version}.`);
      return {
        status: "applied",
        snapshot: {
          kind: "kubernetesSecret",
          existed: backupOfThisRun,
          ...(prev.version ? { previousVersion: prev.version } : {}),
          ...(prev.thumbprint ? { previousThumbprint: prev.thumbprint } : {}),
          ...(backupOfThisRun ? { backupSecretName: backupName(step.secretName) } : {}),
          ...(existing.metadata?.resourceVersion
            ? { resourceVersionAfterWrite: existing.metadata.resourceVersion }
            : {}),
        },
        detail: "already applied",
      };
    }

    // 2. The new content, from the vault (key material lives only in this block).
    const vaultUrl = certificate.vaultUrl;
    const content = await withCertificateMaterial(
      c.secretClient(vaultUrl),
      certificate.certificateName,
      certificate.version,
      (m) => ({
        built: secretData(m, step.writeTls, step.writeCa),
        thumbprint: leafThumbprint(m.chainPem[0]),
      }),
    );
    if ("problem" in content) return { status: "failed", write: "notApplied", ...content.problem };
    if ("reason" in content.built) return { status: "failed", write: "notApplied", ...content.built };
    const newAnnotations = {
      [VERSION_ANNOTATION]: certificate.version,
      [THUMBPRINT_ANNOTATION]: content.thumbprint,
      [ROTATION_ANNOTATION]: input.rotationId,
    };

    // 3. Snapshot and backup of what was there before this run. Our write landed already but the
    // Secret was changed since (e.g. tls.crt replaced by hand): this run's backup still holds the
    // state before the run and is kept. Otherwise the backup is (re)made from the Secret as it is:
    // created, or replaced when it is ours from another run or from an attempt whose write failed.
    const keepBackup = existing !== undefined && backupOfThisRun && ourWriteLanded;
    const prev = keepBackup ? carried(backup, role) : carried(existing, role);
    if (existing && !keepBackup) {
      const copy = backupOf(existing, input.rotationId, role);
      if (backup) {
        copy.metadata!.resourceVersion = backup.metadata?.resourceVersion;
        await replaceSecret(apis, copy);
      } else {
        await createSecret(apis, copy);
      }
    }

    // 4. The write, with the resourceVersion read above as precondition.
    let written: V1Secret;
    if (existing) {
      written = await replaceSecret(apis, withContent(existing, content.built.data, newAnnotations));
    } else {
      written = await createSecret(apis, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: step.secretName,
          namespace: step.namespace,
          // A Secret we create carries the binding annotations too, so discovery (and a later
          // rotation or rollback) finds it like a Secret registered by hand.
          annotations: {
            [CERTIFICATE_ANNOTATION]: `${certificate.vaultName}/${certificate.certificateName}`,
            ...(step.writeCa && !step.writeTls ? { [ROLE_ANNOTATION]: "ca" } : {}),
            ...newAnnotations,
          } as Record<string, string>,
        },
        type: step.writeTls ? "kubernetes.io/tls" : "Opaque",
        data: content.built.data,
      });
    }
    const snapshot: KubernetesSecretSnapshot = {
      kind: "kubernetesSecret",
      existed: existing !== undefined,
      ...(prev.version ? { previousVersion: prev.version } : {}),
      ...(prev.thumbprint ? { previousThumbprint: prev.thumbprint } : {}),
      ...(existing ? { backupSecretName: backupName(step.secretName) } : {}),
      ...(written.metadata?.resourceVersion
        ? { resourceVersionAfterWrite: written.metadata.resourceVersion }
        : {}),
    };
    afterWrite = snapshot;

    // 5. Pods that mount the Secret themselves need a restart (ingress-nginx does not).
    if (input.restartDeployments) {
      for (const d of step.restartDeployments) await restartDeployment(apis, step.namespace, d, c.now());
    }
    context.log(
      `applyKubernetesSecret: ${where} now carries ${certificate.version} (${content.thumbprint ?? "ca bundle"}).`,
    );
    return { status: "applied", snapshot };
  } catch (e) {
    const f = describeSdkError(e, `Writing ${where}`);
    context.warn(`applyKubernetesSecret: ${f.message}`);
    if (afterWrite) {
      // The Secret was written; only a restart failed. The write stands and can be rolled back.
      return {
        status: "failed",
        write: "unknown",
        snapshot: afterWrite,
        reason: "RestartFailed",
        message: f.message,
      };
    }
    if (f.kind === "busy") return busyResult(f);
    if (f.kind === "notFound" || f.kind === "permanent") {
      return { status: "failed", write: "notApplied", reason: f.code ?? "WriteRefused", message: f.message };
    }
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `applyKubernetesSecret(input)`. */
export const applyKubernetesSecret: TypedActivity<ApplyKubernetesSecretInput, ApplyKubernetesSecretOutput> =
  df.app.activity("applyKubernetesSecret", { handler: applyKubernetesSecretHandler });
