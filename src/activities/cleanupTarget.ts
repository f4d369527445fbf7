/**
 * Activity `cleanupTarget`: after a final Succeeded, removes what is no longer needed — the
 * Kubernetes backup Secret, and Front Door secrets the rollout superseded that no domain uses.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition, type Composition } from "../composition.js";
import type { KubernetesSecretStep } from "../domain/plan.js";
import { frontDoorProfileId } from "../azure/frontDoor.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { withCertificateMaterial } from "../azure/keyVault.js";
import { secretData } from "../kubernetes/secretContent.js";
import {
  ROTATION_ANNOTATION,
  VERSION_ANNOTATION,
  deleteSecret,
  kubeApis,
  readSecret,
  replaceSecret,
  secretText,
  type KubeApis,
} from "../kubernetes/tlsSecrets.js";
import type { CleanupTargetInput, CleanupTargetOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/**
 * Prunes the old CAs of a `ca.crt` Secret after the client-certificate stage succeeded: `ca.crt`
 * becomes the new version's CA chain alone. Left alone when the Secret no longer carries this run's
 * write (someone, or a later run, changed it since). Answers what happened, in words.
 */
async function pruneClientCa(
  c: Composition,
  apis: KubeApis,
  step: KubernetesSecretStep,
  prune: NonNullable<CleanupTargetInput["pruneCa"]>,
): Promise<string> {
  const where = `${step.namespace}/${step.secretName}`;
  const s = await readSecret(apis, step.namespace, step.secretName);
  const a = s?.metadata?.annotations ?? {};
  if (
    !s ||
    a[ROTATION_ANNOTATION] !== prune.rotationId ||
    a[VERSION_ANNOTATION] !== prune.certificate.version
  )
    return `ca.crt of ${where} left alone: it no longer carries this rollout's write`;
  const { certificate } = prune;
  const built = await withCertificateMaterial(
    c.secretClient(certificate.vaultUrl),
    certificate.certificateName,
    certificate.version,
    (m) => secretData(m, false, true),
  );
  if ("problem" in built || "reason" in built)
    return `ca.crt of ${where} not pruned: the version is unreadable`;
  const caCrt = built.data["ca.crt"]!;
  if (Buffer.from(caCrt, "base64").toString("utf8") === secretText(s, "ca.crt"))
    return `ca.crt of ${where} holds the new CA chain only`;
  // The resourceVersion read is the precondition: a change since then is never overwritten.
  await replaceSecret(apis, { ...s, data: { ...(s.data ?? {}), "ca.crt": caCrt } });
  return `ca.crt of ${where} pruned to the new CA chain`;
}

/** Cleans up after one step. */
export async function cleanupTargetHandler(
  input: CleanupTargetInput,
  context: InvocationContext,
): Promise<CleanupTargetOutput> {
  const c = composition();
  const { snapshot, step } = input;
  try {
    if (snapshot.kind === "kubernetesSecret" && step.kind === "kubernetesSecret") {
      const apis = kubeApis(await c.kubeConfig(step.cluster));
      const pruned = input.pruneCa ? `${await pruneClientCa(c, apis, step, input.pruneCa)}; ` : "";
      if (!snapshot.backupSecretName)
        return { status: pruned ? "done" : "skipped", detail: `${pruned}no backup Secret was made` };
      const gone = await deleteSecret(apis, step.namespace, snapshot.backupSecretName);
      return {
        status: "done",
        detail: `${pruned}backup Secret ${step.namespace}/${snapshot.backupSecretName} ${gone ? "deleted" : "was already gone"}`,
      };
    }
    if (snapshot.kind === "frontDoorProfile" && step.kind === "frontDoorProfile") {
      const p = frontDoorProfileId(step.profileId);
      const client = c.cdnClient(p.subscriptionId);
      const inUse = new Set<string>();
      for await (const d of client.afdCustomDomains.listByProfile(p.resourceGroup, p.name)) {
        const s = d.tlsSettings?.secret?.id?.split("/").pop();
        if (s) inUse.add(s.toLowerCase());
      }
      const superseded = [...new Set(snapshot.customDomains.map((d) => d.previousSecretName))].filter(
        (s) => s.toLowerCase() !== snapshot.createdSecretName.toLowerCase() && !inUse.has(s.toLowerCase()),
      );
      for (const s of superseded)
        await client.secrets.beginDeleteAndWait(p.resourceGroup, p.name, s, { updateIntervalInMs: 500 });
      return superseded.length
        ? { status: "done", detail: `deleted Front Door secret(s) ${superseded.join(", ")}` }
        : { status: "skipped", detail: "every previous secret is still in use" };
    }
    return { status: "skipped", detail: "nothing to clean up for this step" };
  } catch (e) {
    const f = describeSdkError(e, `Cleaning up ${step.stepId}`);
    context.warn(`cleanupTarget: ${f.message}`);
    if (f.kind === "retriable") throw retriable(f);
    return { status: "skipped", detail: f.message };
  }
}

/** The registered activity; orchestrators yield `cleanupTarget(input)`. */
export const cleanupTarget: TypedActivity<CleanupTargetInput, CleanupTargetOutput> = df.app.activity(
  "cleanupTarget",
  { handler: cleanupTargetHandler },
);
