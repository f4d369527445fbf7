/**
 * What a rotation instance's status says, read without I/O: whether it runs, its report, the input
 * it was started with, and whether it runs a given request. The status is the shape Durable's
 * `getStatus` answers (read with `showInput` where the input matters). Pure.
 */
import { stageInstanceId } from "./instanceIds.js";
import { runIdOf, type RolloutReport } from "./report.js";
import type { RotationInput } from "../orchestrations/policy.js";

/** The parts of a Durable orchestration status these reads use (`DurableOrchestrationStatus` fits). */
export interface InstanceStatus {
  instanceId: string;
  runtimeStatus: unknown;
  createdTime: Date | string;
  input?: unknown;
  output?: unknown;
  customStatus?: unknown;
}

/** Runtime statuses of an instance that still runs. */
export const RUNNING_STATUSES: ReadonlySet<string> = new Set([
  "Running",
  "Pending",
  "ContinuedAsNew",
  "Suspended",
]);

/** Whether a status is of a running instance. */
export const isRunning = (status: InstanceStatus | undefined): boolean =>
  status !== undefined && RUNNING_STATUSES.has(String(status.runtimeStatus));

/** The rotation's report from its status: the output when it ended, else the live custom status. */
export function reportOf(status: InstanceStatus | undefined): RolloutReport | undefined {
  if (!status) return undefined;
  const candidate = (isRunning(status) ? status.customStatus : (status.output ?? status.customStatus)) as
    RolloutReport | undefined | null;
  return candidate && typeof candidate === "object" && "instanceId" in candidate ? candidate : undefined;
}

/** The input of a rotation instance, when its status was read with `showInput`. */
export const inputOf = (status: InstanceStatus): Partial<RotationInput> | undefined => {
  const input = status.input as Partial<RotationInput> | string | null | undefined;
  return input && typeof input === "object" ? input : undefined;
};

/** A rollout named for a log line: its run id when it has reported, its trigger. */
export function describeRun(status: InstanceStatus): string {
  const report = reportOf(status);
  const trigger = inputOf(status)?.trigger ?? report?.trigger;
  const name = report ? runIdOf(report) : `${status.instanceId} (created ${String(status.createdTime)})`;
  return `${name}${trigger ? ` [${trigger.kind}: ${trigger.detail}]` : ""} (${String(status.runtimeStatus)})`;
}

/** Whether the instance whose status (read with `showInput`) is given runs the request `requestId`. */
export type StartConfirmation<S extends InstanceStatus = InstanceStatus> =
  | { ours: true; status: S }
  /** Another request's rollout has the instance: `by` names it (run id or instance, trigger). */
  | { ours: false; by: string; status: S };

/** Whether `status` (read with `showInput`) is the rollout started for `requestId`. */
export function startedBy<S extends InstanceStatus>(status: S, requestId: string): StartConfirmation<S> {
  return inputOf(status)?.trigger?.requestId === requestId
    ? { ours: true, status }
    : { ours: false, by: describeRun(status), status };
}

/** How recent another request's instance must be to count as the start that raced this one. */
const RACE_WINDOW_MS = 5_000;

/**
 * Whether a start that failed (`startNew` threw) lost to another request's rollout: the instance now
 * runs another request's rollout, or was created within moments of the attempt (`attemptedAt`, ms).
 */
export function lostToAnother<S extends InstanceStatus>(
  seen: StartConfirmation<S> | undefined,
  attemptedAt: number,
): seen is Extract<StartConfirmation<S>, { ours: false }> {
  if (!seen || seen.ours) return false;
  return (
    isRunning(seen.status) || new Date(seen.status.createdTime).getTime() >= attemptedAt - RACE_WINDOW_MS
  );
}

/** The running stage instances of a rotation (to pass a cancel on to them). */
export function runningStageIds(report: RolloutReport): string[] {
  const version = report.versions.next?.version;
  if (!version) return [];
  return report.stages
    .filter((s) => s.status === "pending")
    .map((s) => stageInstanceId(report.instanceId, version, s.index, s.stage));
}

/** The stage a running rotation is in (its first pending one) and the version it rolls out, if any. */
export function runningStage(report: RolloutReport): { stageInstanceId: string; index: number } | undefined {
  const version = report.versions.next?.version;
  const running = report.stages.find((s) => s.status === "pending");
  if (!version || !running) return undefined;
  return {
    stageInstanceId: stageInstanceId(report.instanceId, version, running.index, running.stage),
    index: running.index,
  };
}
