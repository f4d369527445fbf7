/**
 * Passing a person's cancel to a running rotation through a Durable client.
 */
import type { DurableClient } from "durable-functions";
import { isRunning, runningStageIds } from "../domain/rolloutInstance.js";
import { findStatus } from "./instanceStatus.js";
import { liveReport } from "./liveReport.js";

/**
 * Raises "cancel" at the rotation `instanceId`, then at each of its stages still running: a stage
 * waiting for its probes hears it at once instead of after its wait.
 */
export async function raiseRolloutCancel(client: DurableClient, instanceId: string): Promise<void> {
  await client.raiseEvent(instanceId, "cancel", { requestedAt: new Date().toISOString() });
  const report = await liveReport(client, instanceId);
  for (const stageId of report ? runningStageIds(report) : []) {
    if (isRunning(await findStatus(client, stageId))) await client.raiseEvent(stageId, "cancel", {});
  }
}
