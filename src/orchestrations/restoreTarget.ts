/**
 * Orchestration `restoreTarget`: puts one target back as its snapshot recorded it (one rollback
 * action): 1 take the APIM service's lease (APIM only), 2 apply the action with the `rollbackTarget`
 * activity, again while the target is busy (renewing the lease before each attempt), 3 wait until
 * the resource has provisioned or deployed it (a `pollUntil`, renewing the lease every round),
 * 4 release the lease on every path. Probing the previous certificate is the rollback's job. A
 * rollback is not cancellable: it is what a cancel asks for.
 */
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { rollbackTarget } from "../activities/rollbackTarget.js";
import type { Reasoned, RollbackAction } from "../domain/rollback.js";
import { errorSentence, leaseSecondsFor, waitFailure } from "./applyTarget.js";
import type { RolloutPolicy } from "./policy.js";
import { pollInstanceId, waitFor, type PollCheck } from "./pollUntil.js";
import { after, call, untilNotBusy, withResourceLock, type Flow, type Lease } from "./tasks.js";

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
  const restore = function* (lease?: Lease): Flow<Reasoned | undefined> {
    // 2. The write back, again while busy (the lease renewed before each attempt).
    const answer = yield* untilNotBusy(
      context,
      () => call(rollbackTarget, { action, rotationId: input.rotationId }, policy),
      {
        policy,
        deadlineSeconds: policy.busyDeadlineSeconds,
        describe,
        ...(lease ? { beforeAttempt: () => lease.renew() } : {}),
      },
    );
    if (answer.status === "failed") return { reason: answer.reason, message: answer.message };
    if (answer.status === "busyTimeout") return { reason: "Busy", message: answer.message };
    if (answer.status === "stopped") return { reason: answer.reason, message: answer.message };
    if (answer.status === "cancelled") return { reason: "Cancelled", message: answer.message };
    // 3. Provisioning / deployment.
    const check: PollCheck | undefined =
      action.kind === "apimService"
        ? {
            kind: "apimProvisioned",
            serviceId: action.serviceId,
            hostnames: action.hostnames.map((h) => ({ hostName: h.hostName, keyVaultId: h.keyVaultId })),
          }
        : action.kind === "frontDoorProfile"
          ? {
              kind: "frontDoorDeployed",
              profileId: action.profileId,
              customDomains: action.customDomains.map((d) => d.name),
            }
          : undefined;
    if (!check) return undefined;
    const what =
      action.kind === "apimService"
        ? `APIM service ${action.serviceId}`
        : `Front Door profile ${check.kind === "frontDoorDeployed" ? check.profileId : ""}`;
    const waited = yield* waitFor(
      context,
      {
        check,
        describe: `${what} taking the rollback`,
        deadline: after(context, input.deadlineSeconds).toISOString(),
        firstIntervalSeconds: policy.probeIntervalSeconds,
        policy,
        ...(lease
          ? {
              lease: { resourceKey: lease.resourceKey, owner: lease.owner, leaseSeconds: lease.leaseSeconds },
            }
          : {}),
      },
      pollInstanceId(context.df.instanceId, 1),
    );
    return waitFailure(waited.value, false, {
      timeout: {
        reason: action.kind === "apimService" ? "ProvisioningTimeout" : "DeploymentTimeout",
        message: `${what} had not taken the rollback after ${Math.round(input.deadlineSeconds)} s (${waited.value.evidence.state ?? "no state"}).`,
      },
    });
  };
  try {
    let failure: Reasoned | undefined;
    if (action.kind === "apimService") {
      // 1. + 4. The service's lease around the update, released on every path.
      const held = yield* withResourceLock(
        context,
        action.serviceId,
        {
          leaseSeconds: leaseSecondsFor(policy),
          deadlineSeconds: policy.lockWaitDeadlineSeconds ?? policy.busyDeadlineSeconds,
          policy,
        },
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

/** The registered orchestration; the rollback yields `restoreTarget(input, instanceId)`. */
export const restoreTarget = df.app.orchestration("restoreTarget", restoreTargetOrchestrator);
