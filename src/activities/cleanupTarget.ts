/**
 * Activity `cleanupTarget`: after a final Succeeded, removes what is no longer needed — the
 * Kubernetes backup Secret, and Front Door secrets the rollout superseded that no domain uses.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { frontDoorProfileId } from "../azure/frontDoor.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { deleteSecret, kubeApis } from "../kubernetes/tlsSecrets.js";
import type { CleanupTargetInput, CleanupTargetOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Cleans up after one step. */
export async function cleanupTargetHandler(
  input: CleanupTargetInput,
  context: InvocationContext,
): Promise<CleanupTargetOutput> {
  const c = composition();
  const { snapshot, step } = input;
  try {
    if (snapshot.kind === "kubernetesSecret" && step.kind === "kubernetesSecret") {
      if (!snapshot.backupSecretName) return { status: "skipped", detail: "no backup Secret was made" };
      const gone = await deleteSecret(
        kubeApis(await c.kubeConfig(step.cluster)),
        step.namespace,
        snapshot.backupSecretName,
      );
      return {
        status: "done",
        detail: `backup Secret ${step.namespace}/${snapshot.backupSecretName} ${gone ? "deleted" : "was already gone"}`,
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
