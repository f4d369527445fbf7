/**
 * Orchestration `restoreTarget`: puts one target back as its snapshot recorded it (one rollback
 * action): 1 take the APIM service's lease (APIM only), 2 apply the action with the `rollbackTarget`
 * activity, again while the target is busy, 3 wait until the resource has provisioned or deployed
 * it, 4 release the lease. Probing the previous certificate is the rollback's job.
 */
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { readApimService } from "../activities/readApimService.js";
import { readFrontDoorProfile } from "../activities/readFrontDoorProfile.js";
import { rollbackTarget } from "../activities/rollbackTarget.js";
import type {
  ApimRollbackAction,
  FrontDoorRollbackAction,
  Reasoned,
  RollbackAction,
} from "../domain/rollback.js";
import { errorSentence } from "./applyTarget.js";
import type { RolloutPolicy } from "./policy.js";
import { after, call, sleep, untilNotBusy, withResourceLock, type Flow } from "./tasks.js";

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
  const restore = function* (): Flow<Reasoned | undefined> {
    // 2. The write back, again while busy.
    const answer = yield* untilNotBusy(
      context,
      () => call(rollbackTarget, { action, rotationId: input.rotationId }, policy),
      policy.busyDeadlineSeconds,
      describe,
    );
    if (answer.status === "failed") return { reason: answer.reason, message: answer.message };
    if (answer.status === "busyTimeout") return { reason: "TargetBusy", message: answer.message };
    // 3. Provisioning / deployment.
    if (action.kind === "apimService") return yield* waitForApim(context, action, input);
    if (action.kind === "frontDoorProfile") return yield* waitForFrontDoor(context, action, input);
    return undefined;
  };
  try {
    let failure: Reasoned | undefined;
    if (action.kind === "apimService") {
      // 1. + 4. The service's lease around the update.
      const held = yield* withResourceLock(
        context,
        action.serviceId,
        Math.ceil(input.deadlineSeconds + policy.busyDeadlineSeconds),
        policy.busyDeadlineSeconds,
        policy,
        restore,
      );
      failure = held.locked ? held.value : { reason: "ResourceLocked", message: held.message };
    } else {
      failure = yield* restore();
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

function* waitForApim(
  context: OrchestrationContext,
  action: ApimRollbackAction,
  input: RestoreTargetInput,
): Flow<Reasoned | undefined> {
  const deadline = after(context, input.deadlineSeconds).getTime();
  for (;;) {
    const service = yield* call(readApimService, { serviceId: action.serviceId }, input.policy);
    const state = service.provisioningState.toLowerCase();
    const back = action.hostnames.every((h) =>
      service.hostnames.some(
        (s) =>
          s.hostName.toLowerCase() === h.hostName.toLowerCase() &&
          (s.keyVaultId ?? "").toLowerCase() === h.keyVaultId.toLowerCase(),
      ),
    );
    if (state === "succeeded" && back) return undefined;
    if (state === "failed")
      return {
        reason: "ProvisioningFailed",
        message: `APIM service ${action.serviceId} failed the rollback update.`,
      };
    if (context.df.currentUtcDateTime.getTime() >= deadline)
      return {
        reason: "ProvisioningTimeout",
        message: `APIM service ${action.serviceId} was still ${service.provisioningState} after the rollback update.`,
      };
    yield* sleep(context, input.policy.probeIntervalSeconds);
  }
}

function* waitForFrontDoor(
  context: OrchestrationContext,
  action: FrontDoorRollbackAction,
  input: RestoreTargetInput,
): Flow<Reasoned | undefined> {
  const deadline = after(context, input.deadlineSeconds).getTime();
  for (;;) {
    const profile = yield* call(
      readFrontDoorProfile,
      { profileId: action.profileId, customDomains: action.customDomains.map((d) => d.name) },
      input.policy,
    );
    const done = profile.customDomains.every(
      (d) =>
        d.provisioningState.toLowerCase() === "succeeded" &&
        d.deploymentStatus.toLowerCase() !== "inprogress",
    );
    if (done) return undefined;
    if (profile.customDomains.some((d) => d.deploymentStatus.toLowerCase() === "failed"))
      return {
        reason: "DeploymentFailed",
        message: `Front Door profile ${action.profileId} failed the rollback.`,
      };
    if (context.df.currentUtcDateTime.getTime() >= deadline)
      return {
        reason: "DeploymentTimeout",
        message: `Front Door profile ${action.profileId} had not deployed the rollback in time.`,
      };
    yield* sleep(context, input.policy.probeIntervalSeconds);
  }
}

/** The registered orchestration; the rollback yields `restoreTarget(input, instanceId)`. */
export const restoreTarget = df.app.orchestration("restoreTarget", restoreTargetOrchestrator);
