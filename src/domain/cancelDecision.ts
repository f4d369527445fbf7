/**
 * `POST /api/rollouts/{id}/cancel`: whether a cancel can still be heard by the rollout `id` names,
 * from the certificate's instance. Pure.
 */
import { instanceIdOfRun, runIdOf } from "./report.js";
import { isRunning, reportOf, type InstanceStatus } from "./rolloutInstance.js";

/** What a cancel request leads to. */
export type CancelDecision =
  /** No instance of the certificate. */
  | { action: "notFound" }
  /** The rollout does not run, or has already decided its outcome: the sentence says which. */
  | { action: "notRunning"; message: string }
  /** Raise "cancel" on the rotation `instanceId` (and its running stages). */
  | { action: "cancel"; instanceId: string };

/** Whether a cancel of `runOrInstanceId` goes to the rotation whose status (if any) is given. */
export function decideCancel(runOrInstanceId: string, status: InstanceStatus | undefined): CancelDecision {
  const id = instanceIdOfRun(runOrInstanceId) ?? runOrInstanceId;
  if (!status) return { action: "notFound" };
  const running = reportOf(status);
  if (!isRunning(status) || (id !== runOrInstanceId && running && runIdOf(running) !== runOrInstanceId))
    return {
      action: "notRunning",
      message: `Rollout ${runOrInstanceId} is not running (the certificate's rollout ${running ? runIdOf(running) : id} is ${String(status.runtimeStatus)}); there is nothing to cancel.`,
    };
  // Decided, only recording and publishing its outcome: nothing would hear the cancel any more.
  if (running?.outcome)
    return {
      action: "notRunning",
      message: `Rollout ${runIdOf(running)} has already ended ${running.outcome.state} (${running.outcome.reason}) and is only recording its outcome; the cancel arrived too late.`,
    };
  return { action: "cancel", instanceId: id };
}
