/**
 * The live report of a rotation, read from Durable: its own custom status, with the stage that is
 * running replaced by that stage's live view and each APIM target still waiting for its update
 * showing its place in the service's queue.
 */
import type { DurableClient } from "durable-functions";
import type { ReportStage, ReportTarget, RolloutReport } from "../domain/report.js";
import { withQueuePlaces, withRunningStage } from "../domain/reportMerge.js";
import { isRunning, reportOf, runningStage } from "../domain/rolloutInstance.js";
import type { ApimChangeStatus } from "../orchestrations/apimChange.js";
import { findStatus } from "./instanceStatus.js";

/** A running stage's custom status: its view, and where its APIM changes wait while it writes. */
type LiveStage = ReportStage & { apimQueues?: { stepId: string; instanceId: string }[] };

/** APIM queue instances read at most per report (each is one status read). */
const MAX_QUEUES_READ = 8;

/** The live report of the rotation `instanceId`, or undefined when it has not reported. */
export async function liveReport(
  client: DurableClient,
  instanceId: string,
): Promise<RolloutReport | undefined> {
  const status = await findStatus(client, instanceId);
  const report = reportOf(status);
  if (!report || !isRunning(status)) return report;
  const running = runningStage({ ...report, instanceId });
  if (!running) return report;
  const live = (await findStatus(client, running.stageInstanceId))?.customStatus as
    LiveStage | undefined | null;
  if (!live || typeof live !== "object" || !("targets" in live)) return report;
  const { apimQueues, ...stage } = live;
  const shown = apimQueues?.length
    ? withQueuePlaces(stage, await queuePlaces(client, stage, apimQueues))
    : stage;
  return withRunningStage(report, shown);
}

/** Each pending APIM target's place in its service's queue (from its `apimChange` instance's status). */
async function queuePlaces(
  client: DurableClient,
  stage: ReportStage,
  queues: { stepId: string; instanceId: string }[],
): Promise<Map<string, NonNullable<ReportTarget["queue"]>>> {
  const found = new Map<string, NonNullable<ReportTarget["queue"]>>();
  for (const q of queues.slice(0, MAX_QUEUES_READ)) {
    if (!stage.targets.some((t) => t.stepId === q.stepId && t.status === "pending")) continue;
    const status = (await findStatus(client, q.instanceId))?.customStatus as Partial<ApimChangeStatus> | null;
    if (!status || typeof status !== "object" || !status.state) continue;
    found.set(q.stepId, {
      state: status.state,
      ...(status.heldBy ? { heldBy: status.heldBy } : {}),
      updatesSent: status.updatesSent ?? 0,
    });
  }
  return found;
}
