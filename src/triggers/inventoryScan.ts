/**
 * The inventory's drift scan, through a Durable client: purging an ended one (with the
 * per-certificate sub-orchestrations its output names) and starting a new one.
 */
import type { DurableClient, DurableOrchestrationStatus } from "durable-functions";
import type { Config } from "../config.js";
import { isRunning } from "../domain/rolloutInstance.js";
import { driftCertificateInstanceId, type DriftScanOutput } from "../orchestrations/driftScan.js";
import { rolloutPolicyFrom, type DriftScanInput } from "../orchestrations/policy.js";
import { findStatus } from "./instanceStatus.js";

/** Purges an ended inventory scan and the per-certificate sub-orchestrations its output names. */
export async function purgeInventory(
  client: DurableClient,
  status: DurableOrchestrationStatus,
): Promise<void> {
  if (isRunning(status)) return;
  const output = status.output as Partial<DriftScanOutput> | null | undefined;
  const children = (output?.certificates ?? []).map((c) =>
    driftCertificateInstanceId(status.instanceId, c.certificate),
  );
  for (const child of children) await client.purgeInstanceHistory(child).catch(() => undefined);
  await client.purgeInstanceHistory(status.instanceId);
}

/**
 * Starts a report-only drift scan under `instanceId`; answers whether this call started it (false:
 * another request started it a moment ago and it runs). Other start failures are thrown.
 */
export async function startInventoryScan(
  client: DurableClient,
  instanceId: string,
  config: Config,
  now: Date,
): Promise<boolean> {
  const input: DriftScanInput = {
    scheduledFor: now.toISOString(),
    jitterSeconds: 0,
    mode: "report",
    policy: rolloutPolicyFrom(config),
  };
  try {
    await client.startNew("driftScan", { instanceId, input });
    return true;
  } catch (error) {
    if (!isRunning(await findStatus(client, instanceId))) throw error;
    return false;
  }
}
