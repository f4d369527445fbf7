/**
 * Orchestration `restoreTarget`: puts one target back as its snapshot recorded it (one rollback
 * action). An APIM service's entries go back through the service's queue (an `apimChange` sub-orchestration; a
 * rollback's change goes before the rollouts' changes); a Kubernetes Secret or Front Door profile is
 * written back with the `rollbackTarget` activity, again while the target is busy, and a profile's
 * deployment is awaited (a `pollUntil`). Probing the previous certificate is the rollback's job. A
 * rollback is not cancellable: it is what a cancel asks for.
 */
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { rollbackTarget } from "../activities/rollbackTarget.js";
import { restoreChange } from "../domain/apimBatch.js";
import type { Reasoned, RollbackAction } from "../domain/rollback.js";
import { errorSentence, waitFailure } from "./applyTarget.js";
import type { RolloutPolicy } from "./policy.js";
import { pollInstanceId, waitFor, type PollCheck } from "./pollUntil.js";
import {
  apimChange,
  apimChangeInstanceId,
  type ApimChangeInput,
  type ApimQueueResult,
} from "./apimChange.js";
import { after, call, untilNotBusy, type Flow } from "./tasks.js";

/** Input of `restoreTarget`. */
export interface RestoreTargetInput {
  action: RollbackAction;
  rotationId: string;
  policy: RolloutPolicy;
  /** How long the write and its provisioning may take. */
  deadlineSeconds: number;
}

/** Output of `restoreTarget`: undefined when the write went back, else why not. */
export interface RestoreTargetOutput {
  stepId: string;
  restored: boolean;
  failure?: Reasoned;
}

function* restoreTargetOrchestrator(context: OrchestrationContext): Flow<RestoreTargetOutput> {
  const input = context.df.getInput<RestoreTargetInput>();
  const { action, policy } = input;
  const describe = `Rolling back ${action.stepId}`;
  const restore = function* (
    action: Exclude<RollbackAction, { kind: "apimService" }>,
  ): Flow<Reasoned | undefined> {
    // The write back, again while busy.
    const answer = yield* untilNotBusy(
      context,
      () => call(rollbackTarget, { action, rotationId: input.rotationId }, policy),
      {
        policy,
        deadlineSeconds: policy.busyDeadlineSeconds,
        describe,
      },
    );
    if (answer.status === "failed") return { reason: answer.reason, message: answer.message };
    if (answer.status === "busyTimeout") return { reason: "Busy", message: answer.message };
    if (answer.status === "stopped") return { reason: answer.reason, message: answer.message };
    if (answer.status === "cancelled") return { reason: "Cancelled", message: answer.message };
    // Deployment (Front Door).
    if (action.kind !== "frontDoorProfile") return undefined;
    const check: PollCheck = {
      kind: "frontDoorDeployed",
      profileId: action.profileId,
      customDomains: action.customDomains.map((d) => d.name),
    };
    const what = `Front Door profile ${action.profileId}`;
    const waited = yield* waitFor(
      context,
      {
        check,
        describe: `${what} taking the rollback`,
        deadline: after(context, input.deadlineSeconds).toISOString(),
        firstIntervalSeconds: policy.probeIntervalSeconds,
        policy,
      },
      pollInstanceId(context.df.instanceId, 1),
    );
    return waitFailure(waited.value, false, {
      timeout: {
        reason: "DeploymentTimeout",
        message: `${what} had not taken the rollback after ${Math.round(input.deadlineSeconds)} s (${waited.value.evidence.state ?? "no state"}).`,
      },
    });
  };
  try {
    let failure: Reasoned | undefined;
    if (action.kind === "apimService") {
      const changeInput: ApimChangeInput = {
        serviceId: action.serviceId,
        change: restoreChange(input.rotationId, action),
        policy,
        provisionDeadlineSeconds: input.deadlineSeconds,
        pollIntervalSeconds: policy.probeIntervalSeconds,
        gatherSeconds: 0,
        cancellable: false,
      };
      const done = (yield apimChange(
        changeInput,
        apimChangeInstanceId(context.df.instanceId),
      )) as ApimQueueResult;
      failure = done.status === "failed" ? done.failure : undefined;
    } else {
      failure = yield* restore(action);
    }
    return { stepId: action.stepId, restored: failure === undefined, ...(failure ? { failure } : {}) };
  } catch (error) {
    return {
      stepId: action.stepId,
      restored: false,
      failure: { reason: "ActivityFailed", message: errorSentence(error, describe) },
    };
  }
}

/** The registered orchestration; the rollback yields `restoreTarget(input, instanceId)`. */
export const restoreTarget = df.app.orchestration("restoreTarget", restoreTargetOrchestrator);
