/**
 * `GET /api/rollouts/{id}/status`: the body that says how a rollout is doing, from its instance
 * while the instance still holds it, else from its audit row. Pure.
 */
import { instanceIdOfRun, namesRollout, runIdOf, type RolloutReport } from "./report.js";
import { reportOf, type InstanceStatus } from "./rolloutInstance.js";

/** The body of a status answer. */
export interface RolloutStatusBody {
  id: string;
  runId?: string;
  runtimeStatus: string;
  createdTime?: Date | string;
  lastUpdatedTime?: Date | string;
  outcome?: RolloutReport["outcome"];
}

/**
 * The status of `id` from the certificate's instance, or undefined when the instance does not hold
 * the rollout `id` names (an older run: ask the audit table).
 */
export function instanceStatusBody(
  id: string,
  status: (InstanceStatus & { lastUpdatedTime: Date | string }) | undefined,
): RolloutStatusBody | undefined {
  if (!status) return undefined;
  const instanceId = instanceIdOfRun(id) ?? id;
  const live = reportOf(status);
  const times = { createdTime: status.createdTime, lastUpdatedTime: status.lastUpdatedTime };
  if (live && namesRollout(id, live))
    return {
      id: instanceId,
      runId: runIdOf(live),
      runtimeStatus: String(status.runtimeStatus),
      ...times,
      ...(live.outcome ? { outcome: live.outcome } : {}),
    };
  if (!live && instanceId === id) return { id, runtimeStatus: String(status.runtimeStatus), ...times };
  return undefined;
}

/** The status of a rollout known only from its audit row. */
export const auditedStatusBody = (audited: RolloutReport): RolloutStatusBody => ({
  id: audited.instanceId,
  runId: runIdOf(audited),
  runtimeStatus: audited.outcome ? "Completed" : "Unknown",
  ...(audited.outcome ? { outcome: audited.outcome } : {}),
});
