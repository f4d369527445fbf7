/**
 * Activity `applyKubernetesSecret`: writes tls.crt/tls.key (and/or ca.crt) of the new version into
 * one Secret, with a `resourceVersion` precondition, after keeping a backup Secret
 * `<name>-previous` for rollback (only ever one we made: a foreign Secret of that name stops the
 * write); optionally restarts the step's Deployments. What to write is decided by `planSecretWrite`
 * (src/domain/secretWrite.ts) from what is read; this file reads and carries it out. The key material
 * is fetched from Key Vault here and goes nowhere but the Secret.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { V1Secret } from "@kubernetes/client-node";
import { composition, type Composition } from "../composition.js";
import { busyResult, describeSdkError, retriable } from "../azure/sdkErrors.js";
import { withCertificateMaterial } from "../azure/keyVault.js";
import type { KubernetesSecretSnapshot } from "../domain/rollback.js";
import { mergeCaBundle, planSecretWrite, type ObservedSecret } from "../domain/secretWrite.js";
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
  type KubeApis,
  replaceSecret,
  restartDeployment,
  secretText,
} from "../kubernetes/tlsSecrets.js";
import type { ApplyKubernetesSecretInput, ApplyKubernetesSecretOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** What was read of a Secret, as {@link planSecretWrite} takes it. */
const observed = (s: V1Secret, role: "tls" | "ca"): ObservedSecret => {
  const writtenBy = s.metadata?.annotations?.[ROTATION_ANNOTATION];
  const resourceVersion = s.metadata?.resourceVersion;
  return {
    carried: carried(s, role),
    ...(writtenBy ? { writtenBy } : {}),
    ...(resourceVersion ? { resourceVersion } : {}),
  };
};

/** The Secret and its backup as they are, and the plan of the write. */
async function readAndPlan(apis: KubeApis, input: ApplyKubernetesSecretInput) {
  const { step, certificate } = input;
  const role: "tls" | "ca" = step.writeTls ? "tls" : "ca";
  const existing = await readSecret(apis, step.namespace, step.secretName);
  const backup = existing ? await readSecret(apis, step.namespace, backupName(step.secretName)) : undefined;
  const plan = planSecretWrite({
    rotationId: input.rotationId,
    target: {
      version: certificate.version,
      ...(certificate.thumbprint ? { thumbprint: certificate.thumbprint } : {}),
    },
    ...(existing ? { secret: observed(existing, role) } : {}),
    ...(existing
      ? { backup: { owner: backupOwner(backup, step.secretName), carried: carried(backup, role) } }
      : {}),
    names: { namespace: step.namespace, secret: step.secretName, backup: backupName(step.secretName) },
  });
  return { existing, backup, role, plan };
}

/** The new content, from the vault (key material lives only in this call and the returned data). */
async function newContent(c: Composition, input: ApplyKubernetesSecretInput) {
  const { step, certificate } = input;
  const content = await withCertificateMaterial(
    c.secretClient(certificate.vaultUrl),
    certificate.certificateName,
    certificate.version,
    (m) => ({ built: secretData(m, step.writeTls, step.writeCa), thumbprint: leafThumbprint(m.chainPem[0]) }),
  );
  if ("problem" in content) return { failed: content.problem };
  if ("reason" in content.built) return { failed: content.built };
  return { data: content.built.data, thumbprint: content.thumbprint };
}

/** A Secret we create carries the binding annotations too, so discovery (and a later rotation or rollback) finds it. */
function newSecret(
  input: ApplyKubernetesSecretInput,
  data: Record<string, string>,
  annotations: Record<string, string>,
): V1Secret {
  const { step, certificate } = input;
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: step.secretName,
      namespace: step.namespace,
      annotations: {
        [CERTIFICATE_ANNOTATION]: `${certificate.vaultName}/${certificate.certificateName}`,
        ...(step.writeCa && !step.writeTls ? { [ROLE_ANNOTATION]: "ca" } : {}),
        ...annotations,
      },
    },
    type: step.writeTls ? "kubernetes.io/tls" : "Opaque",
    data,
  };
}

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
    // 1. Read the Secret and its backup; decide.
    const apis = kubeApis(await c.kubeConfig(step.cluster));
    const { existing, backup, role, plan } = await readAndPlan(apis, input);
    if (plan.action === "refuse")
      return { status: "failed", write: plan.write, reason: plan.reason, message: plan.message };
    if (plan.action === "alreadyApplied") {
      context.log(`applyKubernetesSecret: ${where} already carries ${certificate.version}.`);
      // A retry of a write that landed: the restart may not have (it happens once per run).
      if (input.restartDeployments)
        for (const d of step.restartDeployments)
          await restartDeployment(apis, step.namespace, d, c.now(), input.rotationId);
      return { status: "applied", snapshot: plan.snapshot, detail: "already applied" };
    }

    // 2. The new content, from the vault.
    const content = await newContent(c, input);
    if (content.failed) return { status: "failed", write: "notApplied", ...content.failed };
    // A client-CA change: trust the old CA too until the client-certificate stage has switched.
    if (step.writeCa && existing && content.data["ca.crt"]) {
      const next = Buffer.from(content.data["ca.crt"], "base64").toString("utf8");
      const merged = mergeCaBundle(next, secretText(existing, "ca.crt"));
      content.data["ca.crt"] = Buffer.from(merged, "utf8").toString("base64");
    }
    const annotations = {
      [VERSION_ANNOTATION]: certificate.version,
      [THUMBPRINT_ANNOTATION]: content.thumbprint,
      [ROTATION_ANNOTATION]: input.rotationId,
    } as Record<string, string>;

    // 3. The backup of what was there before this run, as planned.
    if (existing && (plan.backup === "create" || plan.backup === "replace")) {
      const copy = backupOf(existing, input.rotationId, role);
      if (plan.backup === "replace") {
        copy.metadata!.resourceVersion = backup?.metadata?.resourceVersion;
        await replaceSecret(apis, copy);
      } else {
        await createSecret(apis, copy);
      }
    }

    // 4. The write, with the resourceVersion read above as precondition.
    const written =
      existing && plan.secret === "replace"
        ? await replaceSecret(apis, withContent(existing, content.data, annotations))
        : await createSecret(apis, newSecret(input, content.data, annotations));
    const resourceVersion = written.metadata?.resourceVersion;
    afterWrite = {
      ...plan.snapshot,
      ...(resourceVersion ? { resourceVersionAfterWrite: resourceVersion } : {}),
    };

    // 5. Pods that mount the Secret themselves need a restart (ingress-nginx does not).
    if (input.restartDeployments) {
      for (const d of step.restartDeployments)
        await restartDeployment(apis, step.namespace, d, c.now(), input.rotationId);
    }
    context.log(
      `applyKubernetesSecret: ${where} now carries ${certificate.version} (${content.thumbprint ?? "ca bundle"}).`,
    );
    return { status: "applied", snapshot: afterWrite };
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
