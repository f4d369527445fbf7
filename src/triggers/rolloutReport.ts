/**
 * The report of a rollout as the API answers it: the running or last instance answers first (live
 * progress, joined with the audit row when its custom status leaves targets out); older runs come
 * from the audit table.
 */
import type { DurableClient } from "durable-functions";
import { auditedReport } from "../azure/auditTable.js";
import { composition } from "../composition.js";
import { instanceIdOfRun, namesRollout, runIdOf, type RolloutReport } from "../domain/report.js";
import { leavesTargetsOut, mergeReports } from "../domain/reportMerge.js";
import { liveReport } from "./liveReport.js";

/**
 * The report of `id`: a run id (`<instanceId>@<startedAt>`, `report.runId`) names one rollout; an
 * instance id names the certificate's latest. Undefined when there is none.
 */
export async function rolloutReport(client: DurableClient, id: string): Promise<RolloutReport | undefined> {
  const live = await liveReport(client, instanceIdOfRun(id) ?? id);
  const table = () => composition().auditTable();
  if (!live || !namesRollout(id, live)) return auditedReport(await table(), id);
  // A running rollout's custom status shows only a few targets (Durable caps it at 16 KB); the whole
  // report as of the last finished stage is in its audit row, with the live counts beside it.
  const audited = leavesTargetsOut(live) ? await auditedReport(await table(), runIdOf(live)) : undefined;
  return mergeReports(live, audited);
}
