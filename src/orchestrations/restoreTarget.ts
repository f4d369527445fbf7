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
import { activityFailed, busy, frontDoorNotRestored } from "../domain/reasons.js";
import type {
  ApimRollbackAction,
  FrontDoorRollbackAction,
  Reasoned,
  RollbackAction,
} from "../domain/rollback.js";
import { waitFailure } from "./applyTarget.js";
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
  const { action } = input;
  try {
    const failure =
      action.kind === "apimService"
        ? yield* restoreApimService(context, input, action)
        : yield* writeBack(context, input, action);
    return { stepId: action.stepId, restored: failure === undefined, ...(failure ? { failure } : {}) };
  } catch (error) {
    return {
      stepId: action.stepId,
      restored: false,
      failure: activityFailed(error, describeRestore(action)),
    };
  }
}

const describeRestore = (action: RollbackAction) => `Rolling back ${action.stepId}`;

/** APIM: the service's entries go back through its queue (a rollback's change goes first). */
function* restoreApimService(
  context: OrchestrationContext,
  input: RestoreTargetInput,
  action: ApimRollbackAction,
): Flow<Reasoned | undefined> {
  const changeInput: ApimChangeInput = {
    serviceId: action.serviceId,
    change: restoreChange(input.rotationId, action),
    policy: input.policy,
    provisionDeadlineSeconds: input.deadlineSeconds,
    pollIntervalSeconds: input.policy.probeIntervalSeconds,
    gatherSeconds: 0,
    cancellable: false,
  };
  const done = (yield apimChange(
    changeInput,
    apimChangeInstanceId(context.df.instanceId),
  )) as ApimQueueResult;
  return done.status === "failed" ? done.failure : undefined;
}

/** A Secret or a Front Door profile: the write back, again while busy; then a profile's deployment. */
function* writeBack(
  context: OrchestrationContext,
  input: RestoreTargetInput,
  action: Exclude<RollbackAction, { kind: "apimService" }>,
): Flow<Reasoned | undefined> {
  const { policy } = input;
  const answer = yield* untilNotBusy(
    context,
    () =>
      call(
        rollbackTarget,
        { action, rotationId: input.rotationId, restartDeployments: policy.restartDeployments },
        policy,
      ),
    {
      policy,
      deadlineSeconds: policy.busyDeadlineSeconds,
      describe: describeRestore(action),
    },
  );
  if (answer.status === "failed") return { reason: answer.reason, message: answer.message };
  if (answer.status === "busyTimeout") return busy(answer.message);
  if (answer.status === "stopped") return { reason: answer.reason, message: answer.message };
  if (answer.status === "cancelled") return { reason: "Cancelled", message: answer.message };
  if (action.kind !== "frontDoorProfile") return undefined;
  return yield* awaitFrontDoorRollback(context, input, action);
}

/** Front Door: wait until the profile deployed the previous secrets again, or the deadline. */
function* awaitFrontDoorRollback(
  context: OrchestrationContext,
  input: RestoreTargetInput,
  action: FrontDoorRollbackAction,
): Flow<Reasoned | undefined> {
  const check: PollCheck = {
    kind: "frontDoorDeployed",
    profileId: action.profileId,
    customDomains: action.customDomains.map((d) => d.name),
  };
  const waited = yield* waitFor(
    context,
    {
      check,
      describe: `Front Door profile ${action.profileId} taking the rollback`,
      deadline: after(context, input.deadlineSeconds).toISOString(),
      firstIntervalSeconds: input.policy.probeIntervalSeconds,
      policy: input.policy,
    },
    pollInstanceId(context.df.instanceId, 1),
  );
  return waitFailure(waited.value, false, {
    timeout: frontDoorNotRestored({
      profileId: action.profileId,
      deadlineSeconds: input.deadlineSeconds,
      state: waited.value.evidence.state,
    }),
  });
}

/** The registered orchestration; the rollback yields `restoreTarget(input, instanceId)`. */
export const restoreTarget = df.app.orchestration("restoreTarget", restoreTargetOrchestrator);
