/**
 * Orchestration `applyTarget`: one write of one plan step (one resource), from the lease to the
 * resource's own "done": for an APIM service, 1 take the service's lease, 2 send the one update
 * (again while the service is busy), 3 wait until the update has provisioned, 4 release the lease;
 * for a Front Door profile, 2 create the secret and repoint the domains, 3 wait for the deployment;
 * for a Kubernetes Secret, 2 write it. Probing is the stage's job.
 *
 * A sub-orchestration per target keeps the stage's fan-out truly parallel and each history short.
 */
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { applyApimService } from "../activities/applyApimService.js";
import { applyFrontDoorProfile } from "../activities/applyFrontDoorProfile.js";
import { applyKubernetesSecret } from "../activities/applyKubernetesSecret.js";
import type { WriteOutcome } from "../activities/contracts.js";
import { readApimService } from "../activities/readApimService.js";
import { readFrontDoorProfile } from "../activities/readFrontDoorProfile.js";
import type { ApimServiceStep, FrontDoorProfileStep, Plan, PlanStep } from "../domain/plan.js";
import type { Reasoned, StepResult, StepSnapshot } from "../domain/rollback.js";
import type { RolloutPolicy } from "./policy.js";
import { after, call, sleep, untilNotBusy, withResourceLock, type Flow } from "./tasks.js";

/** Input of `applyTarget`. */
export interface ApplyTargetInput {
  step: PlanStep;
  certificate: Plan["certificate"];
  rotationId: string;
  policy: RolloutPolicy;
  /** Seconds the write plus its provisioning may take (the stage's deadline). */
  deadlineSeconds: number;
}

/** Output of `applyTarget`: the step's result (write, snapshot, failure). */
export type ApplyTargetOutput = StepResult;

function* applyTargetOrchestrator(context: OrchestrationContext): Flow<ApplyTargetOutput> {
  const input = context.df.getInput<ApplyTargetInput>();
  const { step, policy } = input;
  try {
    switch (step.kind) {
      case "kubernetesSecret":
        // 2. Write the Secret (resourceVersion precondition; a conflict answers busy).
        return toResult(
          step.stepId,
          yield* untilNotBusy(
            context,
            () =>
              call(
                applyKubernetesSecret,
                {
                  step,
                  certificate: input.certificate,
                  rotationId: input.rotationId,
                  restartDeployments: policy.restartDeployments,
                },
                policy,
              ),
            policy.busyDeadlineSeconds,
            step.description,
          ),
        );
      case "apimService": {
        // 1. Lease the service: one update at a time, across every rollout.
        const held = yield* withResourceLock(
          context,
          step.resourceKey,
          Math.ceil(input.deadlineSeconds + policy.busyDeadlineSeconds),
          policy.busyDeadlineSeconds,
          policy,
          () => applyApimAndWait(context, step, input),
        );
        return held.locked
          ? held.value
          : {
              stepId: step.stepId,
              write: "notApplied",
              failure: { reason: "ResourceLocked", message: held.message },
            };
      }
      case "frontDoorProfile": {
        // 2. New secret, domains repointed; 3. the deployment.
        const result = toResult(
          step.stepId,
          yield* untilNotBusy(
            context,
            () => call(applyFrontDoorProfile, { step, rotationId: input.rotationId }, policy),
            policy.busyDeadlineSeconds,
            step.description,
          ),
        );
        if (result.failure) return result;
        const failure = yield* waitForFrontDoor(context, step, input);
        return failure ? { ...result, failure } : result;
      }
    }
  } catch (error) {
    // Every automatic retry threw: the write may or may not have landed.
    return {
      stepId: step.stepId,
      write: "unknown",
      failure: { reason: "ActivityFailed", message: errorSentence(error, step.description) },
    };
  }
}

function* applyApimAndWait(
  context: OrchestrationContext,
  step: ApimServiceStep,
  input: ApplyTargetInput,
): Flow<StepResult> {
  const { policy } = input;
  // 2. The one update, sent again while the service is busy with another operation.
  const result = toResult(
    step.stepId,
    yield* untilNotBusy(
      context,
      () => call(applyApimService, { step, rotationId: input.rotationId }, policy),
      policy.busyDeadlineSeconds,
      step.description,
    ),
  );
  if (result.failure) return result;
  // 3. Wait until the service has provisioned the update (the lease stays held meanwhile).
  const deadline = after(context, input.deadlineSeconds).getTime();
  for (;;) {
    const service = yield* call(readApimService, { serviceId: step.serviceId }, policy);
    const state = service.provisioningState.toLowerCase();
    const pointed = step.hostnames.every((h) =>
      service.hostnames.some(
        (s) =>
          s.hostName.toLowerCase() === h.hostName.toLowerCase() &&
          (s.keyVaultId ?? "").toLowerCase() === step.keyVaultSecretId.toLowerCase(),
      ),
    );
    if (state === "succeeded" && pointed) return result;
    if (state === "failed") {
      return {
        ...result,
        failure: {
          reason: "ProvisioningFailed",
          message: `APIM service ${step.serviceId} ended its update in state Failed.`,
        },
      };
    }
    if (context.df.currentUtcDateTime.getTime() >= deadline) {
      return {
        ...result,
        failure: {
          reason: "ProvisioningTimeout",
          message: `APIM service ${step.serviceId} was still ${service.provisioningState} after ${Math.round(input.deadlineSeconds)} s.`,
        },
      };
    }
    yield* sleep(context, policy.probeIntervalSeconds);
  }
}

function* waitForFrontDoor(
  context: OrchestrationContext,
  step: FrontDoorProfileStep,
  input: ApplyTargetInput,
): Flow<Reasoned | undefined> {
  const { policy } = input;
  const deadline = after(context, input.deadlineSeconds).getTime();
  for (;;) {
    const profile = yield* call(
      readFrontDoorProfile,
      { profileId: step.profileId, customDomains: step.customDomains.map((d) => d.name) },
      policy,
    );
    const failed = profile.customDomains.find(
      (d) => d.provisioningState.toLowerCase() === "failed" || d.deploymentStatus.toLowerCase() === "failed",
    );
    if (failed) {
      return {
        reason: "DeploymentFailed",
        message: `Front Door custom domain ${failed.name} ended its update with provisioning ${failed.provisioningState}, deployment ${failed.deploymentStatus}.`,
      };
    }
    const done = profile.customDomains.every(
      (d) =>
        d.provisioningState.toLowerCase() === "succeeded" &&
        d.deploymentStatus.toLowerCase() !== "inprogress" &&
        (d.secretName === undefined || d.secretName.toLowerCase() === step.newSecretName.toLowerCase()),
    );
    if (done) return undefined;
    if (context.df.currentUtcDateTime.getTime() >= deadline) {
      return {
        reason: "DeploymentTimeout",
        message: `Front Door profile ${step.profileId} had not deployed the new secret after ${Math.round(input.deadlineSeconds)} s.`,
      };
    }
    yield* sleep(context, policy.probeIntervalSeconds);
  }
}

/** A write's answer as a step result. */
function toResult(
  stepId: string,
  outcome:
    Exclude<WriteOutcome<StepSnapshot>, { status: "busy" }> | { status: "busyTimeout"; message: string },
): StepResult {
  switch (outcome.status) {
    case "applied":
      return { stepId, write: "applied", snapshot: outcome.snapshot };
    case "failed":
      return {
        stepId,
        write: outcome.write,
        ...(outcome.snapshot ? { snapshot: outcome.snapshot } : {}),
        failure: { reason: outcome.reason, message: outcome.message },
      };
    case "busyTimeout":
      return { stepId, write: "notApplied", failure: { reason: "TargetBusy", message: outcome.message } };
  }
}

/** A sentence for an activity failure, without its stack (and never a secret: activities never throw one). */
export function errorSentence(error: unknown, what: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split("\n")[0]?.slice(0, 400) ?? "";
  return `${what.replace(/\.$/, "")} failed after every retry: ${firstLine}`;
}

/** The registered orchestration; a stage yields `applyTarget(input, instanceId)`. */
export const applyTarget = df.app.orchestration("applyTarget", applyTargetOrchestrator);
