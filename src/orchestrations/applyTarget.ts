/**
 * Orchestration `applyTarget`: one write of one plan step (one resource), up to the resource's own
 * "done": for an APIM service, the change goes through the service's queue (an `apimChange` sub-orchestration) — one
 * update at a time per service, each carrying the queued changes of every rollout, sent by the lease
 * holder and awaited until provisioned; for a Front Door profile, create the secret and repoint the
 * domains, then wait for the deployment (`pollUntil`); for a Kubernetes Secret, write it. Probing is
 * the stage's job.
 *
 * A "cancel" event (passed on by the stage) ends any wait; the step then reports `Cancelled`, with
 * `write` telling whether its write landed (so the rotation rolls it back). An APIM change that an
 * update of the service already carries is awaited to the end first (that write is in flight).
 *
 * A sub-orchestration per target keeps the stage's fan-out truly parallel and each history short.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { applyFrontDoorProfile } from "../activities/applyFrontDoorProfile.js";
import { applyKubernetesSecret } from "../activities/applyKubernetesSecret.js";
import type { WriteOutcome } from "../activities/contracts.js";
import { applyChange } from "../domain/apimBatch.js";
import type {
  ApimServiceStep,
  FrontDoorProfileStep,
  KubernetesSecretStep,
  Plan,
  PlanStep,
} from "../domain/plan.js";
import { activityFailed, busy, CANCELLED, frontDoorNotDeployed } from "../domain/reasons.js";
import type { Reasoned, StepResult, StepSnapshot } from "../domain/rollback.js";
import { waitSettings, type RolloutPolicy } from "./policy.js";
import { pollInstanceId, waitFor, type PollUntilOutput } from "./pollUntil.js";
import {
  apimChange,
  apimChangeInstanceId,
  type ApimChangeInput,
  type ApimQueueResult,
} from "./apimChange.js";
import {
  after,
  awaitChildren,
  call,
  untilNotBusy,
  type Flow,
  type NotBusy,
  type UntilNotBusyOptions,
} from "./tasks.js";

/** Input of `applyTarget`. */
export interface ApplyTargetInput {
  step: PlanStep;
  certificate: Plan["certificate"];
  rotationId: string;
  policy: RolloutPolicy;
  /** Seconds the write plus its provisioning may take (the stage's deadline). */
  deadlineSeconds: number;
  /** First interval between two reads of the provisioning state (the stage's probe interval). */
  pollIntervalSeconds?: number;
}

/** Output of `applyTarget`: the step's result (write, snapshot, failure). */
export type ApplyTargetOutput = StepResult;

/** What the steps of one target share. */
interface TargetRun {
  context: OrchestrationContext;
  input: ApplyTargetInput;
  /** The instance's "cancel" event task. */
  cancel: Task;
  /** Options of a write that answers busy (a conflict, a 429): again until its deadline. */
  busyWrite: UntilNotBusyOptions;
}

function* applyTargetOrchestrator(context: OrchestrationContext): Flow<ApplyTargetOutput> {
  const input = context.df.getInput<ApplyTargetInput>();
  const { step, policy } = input;
  const cancel: Task = context.df.waitForExternalEvent("cancel");
  const busyWrite = {
    policy,
    deadlineSeconds: policy.busyDeadlineSeconds,
    describe: step.description,
    cancel,
  };
  const run: TargetRun = { context, input, cancel, busyWrite };
  try {
    switch (step.kind) {
      case "kubernetesSecret":
        return yield* writeSecret(run, step);
      case "apimService":
        return yield* changeApimService(run, step);
      case "frontDoorProfile":
        return yield* repointFrontDoor(run, step);
    }
  } catch (error) {
    // Every automatic retry threw: the write may or may not have landed.
    return { stepId: step.stepId, write: "unknown", failure: activityFailed(error, step.description) };
  }
}

/** Kubernetes: 2. write the Secret (resourceVersion precondition; a conflict answers busy). */
function* writeSecret(run: TargetRun, step: KubernetesSecretStep): Flow<StepResult> {
  const { input } = run;
  const { policy } = input;
  const write = {
    step,
    certificate: input.certificate,
    rotationId: input.rotationId,
    restartDeployments: policy.restartDeployments,
  };
  return toResult(
    step.stepId,
    yield* untilNotBusy(run.context, () => call(applyKubernetesSecret, write, policy), run.busyWrite),
  );
}

/** APIM: through the service's queue, one update at a time, shared with the other rollouts' changes. */
function* changeApimService(run: TargetRun, step: ApimServiceStep): Flow<StepResult> {
  const { context, input } = run;
  const { policy } = input;
  const childId = apimChangeInstanceId(context.df.instanceId);
  const changeInput: ApimChangeInput = {
    serviceId: step.serviceId,
    change: applyChange(input.rotationId, step),
    policy,
    provisionDeadlineSeconds: input.deadlineSeconds,
    pollIntervalSeconds: input.pollIntervalSeconds ?? policy.probeIntervalSeconds,
    gatherSeconds: waitSettings(policy).apimGatherSeconds,
    cancellable: true,
  };
  const ran = yield* awaitChildren<ApimQueueResult>(
    context,
    () => apimChange(changeInput, childId),
    [childId],
    run.cancel,
    policy,
  );
  if (!ran.started) return { stepId: step.stepId, write: "notApplied", failure: CANCELLED };
  const done = ran.value;
  if (done.status === "failed")
    return {
      stepId: step.stepId,
      write: done.write,
      ...(done.snapshot ? { snapshot: done.snapshot } : {}),
      failure: done.failure,
    };
  return {
    stepId: step.stepId,
    write: "applied",
    snapshot: done.snapshot ?? { kind: "apimService", hostnames: [], certificates: [] },
    ...(done.stopped ? { failure: done.stopped } : {}),
  };
}

/** Front Door: 2. new secret, domains repointed; 3. the deployment. */
function* repointFrontDoor(run: TargetRun, step: FrontDoorProfileStep): Flow<StepResult> {
  const { context, input } = run;
  const write = { step, rotationId: input.rotationId };
  const result = toResult(
    step.stepId,
    yield* untilNotBusy(context, () => call(applyFrontDoorProfile, write, input.policy), run.busyWrite),
  );
  if (result.failure) return result;
  const failure = yield* waitForFrontDoor(context, step, input, run.cancel);
  return failure ? { ...result, failure } : result;
}

function* waitForFrontDoor(
  context: OrchestrationContext,
  step: FrontDoorProfileStep,
  input: ApplyTargetInput,
  cancel: Task,
): Flow<Reasoned | undefined> {
  const { policy } = input;
  const waited = yield* waitFor(
    context,
    {
      check: {
        kind: "frontDoorDeployed",
        profileId: step.profileId,
        customDomains: step.customDomains.map((d) => d.name),
        secretName: step.newSecretName,
      },
      describe: `Front Door profile ${step.profileId} deploying the new secret`,
      deadline: after(context, input.deadlineSeconds).toISOString(),
      firstIntervalSeconds: input.pollIntervalSeconds ?? policy.probeIntervalSeconds,
      policy,
    },
    pollInstanceId(context.df.instanceId, 1),
    cancel,
  );
  return waitFailure(waited.value, waited.cancelled, {
    timeout: frontDoorNotDeployed({
      profileId: step.profileId,
      deadlineSeconds: input.deadlineSeconds,
      state: waited.value.evidence.state,
    }),
  });
}

/** Why a wait did not end done, as a step failure; undefined when it did (and no cancel was heard). */
export function waitFailure(
  output: PollUntilOutput,
  cancelHeard: boolean,
  words: { timeout: Reasoned },
): Reasoned | undefined {
  switch (output.status) {
    case "done":
      return cancelHeard ? CANCELLED : undefined;
    case "timeout":
      return words.timeout;
    case "cancelled":
      return CANCELLED;
    default:
      return { reason: output.reason, message: output.message };
  }
}

/** A write's answer as a step result. */
function toResult(stepId: string, outcome: NotBusy<WriteOutcome<StepSnapshot>>): StepResult {
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
    case "cancelled":
    case "stopped": {
      const failure: Reasoned =
        outcome.status === "stopped"
          ? { reason: outcome.reason, message: outcome.message }
          : outcome.status === "busyTimeout"
            ? busy(outcome.message)
            : { reason: "Cancelled", message: outcome.message };
      // Part of the write had landed: roll back from what it recorded.
      const partial = outcome.partial?.snapshot as StepSnapshot | undefined;
      return partial
        ? { stepId, write: "unknown", snapshot: partial, failure }
        : { stepId, write: "notApplied", failure };
    }
  }
}

/** The registered orchestration; a stage yields `applyTarget(input, instanceId)`. */
export const applyTarget = df.app.orchestration("applyTarget", applyTargetOrchestrator);
