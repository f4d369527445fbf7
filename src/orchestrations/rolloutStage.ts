/**
 * Orchestration `rolloutStage`: one stage (hop) of a rollout.
 *
 * 1. Apply every step of the stage in parallel, one `applyTarget` sub-orchestration per resource.
 * 2. If any write failed, stop: the stage failed (the rotation rolls back what was applied).
 * 3. Probe every endpoint of the stage with real handshakes until each serves the new leaf (and,
 *    after the outermost stage, a request through the whole chain succeeds), or the deadline passes:
 *    a `pollUntil` sub-orchestration from the stage's probe interval with capped backoff.
 *
 * A "cancel" event at any point ends the stage as cancelled: it is passed on to the targets and the
 * probe wait, whose own answers (what was written) are still collected for the rollback.
 *
 * Custom status: the stage as the report shows it, bounded (a few targets, counts of all).
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { apimChangeInstanceId, fitInstanceId } from "../domain/instanceIds.js";
import type { Plan, PlanStage } from "../domain/plan.js";
import { CANCELLED, probeDeadlineExceeded, targetOrchestrationFailed } from "../domain/reasons.js";
import { assembleStage, type ReportStage, type ReportTrigger } from "../domain/report.js";
import type { ProbeEvidence, Reasoned, StageResult, StepResult } from "../domain/rollback.js";
import { probeKey, type ProbeSpec } from "../domain/bindings.js";
import { applyTarget, waitFailure, type ApplyTargetInput } from "./applyTarget.js";
import type { RolloutPolicy } from "./policy.js";
import { pollInstanceId, waitFor } from "./pollUntil.js";
import { stageStatusView } from "./status.js";
import { after, awaitChildren, type Flow } from "./tasks.js";

/** Input of `rolloutStage`. */
export interface RolloutStageInput {
  rotationId: string;
  /** The rollout run's id, recorded by the target writes. */
  runId: string;
  plan: Plan;
  stageIndex: number;
  policy: RolloutPolicy;
  /** Also require a request through the whole chain to succeed (the outermost stage). */
  endToEnd: boolean;
  trigger: ReportTrigger;
}

/** Output of `rolloutStage`. */
export type RolloutStageOutput = StageResult;

/** The sub-orchestration id of one target of a stage. */
export const targetInstanceId = (stageInstanceId: string, stepIndex: number): string =>
  fitInstanceId(`${stageInstanceId}:t${stepIndex + 1}`);

/** What the steps of one stage share. */
interface StageRun {
  context: OrchestrationContext;
  input: RolloutStageInput;
  stage: PlanStage;
  /** The instance's "cancel" event task. */
  cancel: Task;
  /** The stage's result so far (the custom status shows it). */
  result: StageResult;
  /** The sub-orchestration id of each step's target, by step index. */
  targetIds: string[];
  /** Sets the custom status from `result`. */
  show: () => void;
}

function* rolloutStageOrchestrator(context: OrchestrationContext): Flow<RolloutStageOutput> {
  const run = startStage(context);
  run.show();

  // 1. Every resource of the stage at once; a cancel is passed on to each.
  const { steps, cancelled } = yield* applyTargets(run);
  const { result } = run;
  result.steps = steps;
  result.status = "failed";
  if (cancelled) {
    result.status = "cancelled";
    return finish(context, result, CANCELLED);
  }

  // 2. A write failed: stop here.
  const writeFailure = steps.find((s) => s.failure)?.failure;
  if (writeFailure) return finish(context, result, writeFailure);
  run.show();

  // 3. Probe until every endpoint serves the new certificate, or the deadline.
  const failure = yield* probeStage(run, steps);
  if (!failure) {
    result.status = "succeeded";
    return finish(context, result);
  }
  if (failure.reason === "Cancelled") result.status = "cancelled";
  return finish(context, result, failure);
}

/** The stage's run: its plan stage, an empty result, its targets' ids, and the custom status. */
function startStage(context: OrchestrationContext): StageRun {
  const input = context.df.getInput<RolloutStageInput>();
  const stage = input.plan.stages.find((s) => s.index === input.stageIndex) as PlanStage;
  const cancel: Task = context.df.waitForExternalEvent("cancel");
  const startedAt = context.df.currentUtcDateTime.toISOString();
  const result: StageResult = {
    index: stage.index,
    stage: stage.stage,
    status: "notStarted",
    steps: [],
    startedAt,
  };
  const targetIds = stage.steps.map((_, i) => targetInstanceId(context.df.instanceId, i));
  // Where the report finds how each APIM change is doing in its service's queue.
  const apimQueues = stage.steps.flatMap((step, i) =>
    step.kind === "apimService"
      ? [{ stepId: step.stepId, instanceId: apimChangeInstanceId(targetIds[i] as string) }]
      : [],
  );
  const show = () => {
    const view = liveStage(input, result);
    const writing = result.steps.length === 0 && apimQueues.length > 0;
    context.df.setCustomStatus(
      view ? { ...stageStatusView(view), ...(writing ? { apimQueues } : {}) } : null,
    );
  };
  return { context, input, stage, cancel, result, targetIds, show };
}

/**
 * Step 1: one `applyTarget` per resource, in parallel; a cancel is passed on to each, and each one's
 * own answer (what it wrote) is still collected. A cancel heard before they started starts none.
 */
function* applyTargets(run: StageRun): Flow<{ steps: StepResult[]; cancelled: boolean }> {
  const { context, input, stage, targetIds } = run;
  const targets = () =>
    stage.steps.map((step, i) => {
      const targetInput: ApplyTargetInput = {
        step,
        certificate: input.plan.certificate,
        rotationId: input.runId,
        policy: input.policy,
        deadlineSeconds: stage.probeDeadlineSeconds,
        pollIntervalSeconds: stage.probeIntervalSeconds,
      };
      return applyTarget(targetInput, targetIds[i]);
    });
  try {
    const all = yield* awaitChildren<StepResult[]>(
      context,
      () => context.df.Task.all(targets()),
      targetIds,
      run.cancel,
      input.policy,
    );
    const steps: StepResult[] = all.started
      ? all.value
      : stage.steps.map((s) => ({ stepId: s.stepId, write: "notApplied", failure: CANCELLED }));
    return { steps, cancelled: all.cancelled || steps.some((s) => s.failure?.reason === "Cancelled") };
  } catch (error) {
    // A target orchestration itself failed (it catches activity failures, so this is a bug or a crash).
    const steps: StepResult[] = stage.steps.map((s) => ({
      stepId: s.stepId,
      write: "unknown",
      failure: targetOrchestrationFailed(error, s.description),
    }));
    return { steps, cancelled: false };
  }
}

/**
 * Step 3: one `pollUntil` probing every endpoint of the stage (and, for the outermost, a request
 * through the whole chain) until each serves the new leaf; the evidence goes to each step's result.
 * Answers why the stage did not pass, if it did not.
 */
function* probeStage(run: StageRun, steps: StepResult[]): Flow<Reasoned | undefined> {
  const { context, input, stage } = run;
  const probes = uniqueProbes(stage.steps.flatMap((s) => s.probes));
  const waited = yield* waitFor(
    context,
    {
      check: {
        kind: "probes",
        probe: {
          stage: stage.stage,
          probes,
          ...(input.plan.certificate.thumbprint
            ? { expectThumbprint: input.plan.certificate.thumbprint }
            : {}),
          endToEnd: input.endToEnd,
        },
      },
      describe: `Stage ${stage.index} (${stage.stage}) serving the new certificate`,
      deadline: after(context, stage.probeDeadlineSeconds).toISOString(),
      firstIntervalSeconds: stage.probeIntervalSeconds,
      policy: input.policy,
    },
    pollInstanceId(context.df.instanceId, 1),
    run.cancel,
  );
  const evidence: ProbeEvidence[] = waited.value.evidence.probes ?? [];
  run.result.steps = attachEvidence(stage, steps, evidence);
  return waitFailure(waited.value, waited.cancelled, {
    timeout: probeDeadlineExceeded({
      stageIndex: stage.index,
      stage: stage.stage,
      deadlineSeconds: stage.probeDeadlineSeconds,
      failing: evidence.filter((e) => !e.ok),
    }),
  });
}

function finish(context: OrchestrationContext, result: StageResult, failure?: Reasoned): StageResult {
  const done: StageResult = {
    ...result,
    ...(failure ? { failure } : {}),
    finishedAt: context.df.currentUtcDateTime.toISOString(),
  };
  return done;
}

/**
 * The latest evidence per step, by the host names each step probes; the end-to-end requests through
 * the whole chain (which may enter by other host names, PROBE_END_TO_END_HOSTS) belong to every step.
 */
function attachEvidence(stage: PlanStage, steps: StepResult[], evidence: ProbeEvidence[]): StepResult[] {
  const endToEnd = evidence.filter((e) => e.detail?.startsWith("end to end"));
  return steps.map((s) => {
    const planned = stage.steps.find((p) => p.stepId === s.stepId);
    const hosts = new Set((planned?.probes ?? []).map((p) => p.hostName.toLowerCase()));
    const mine = evidence.filter((e) => hosts.has(e.hostName.toLowerCase()) || endToEnd.includes(e));
    return { ...s, probes: mine.length ? mine : evidence.filter((e) => !hosts.size && e) };
  });
}

function uniqueProbes(probes: ProbeSpec[]): ProbeSpec[] {
  const seen = new Map<string, ProbeSpec>();
  for (const p of probes) seen.set(probeKey(p), p);
  return [...seen.values()];
}

/** The stage as the report shows it (custom status). */
export function liveStage(input: RolloutStageInput, result: StageResult): ReportStage | undefined {
  const view = assembleStage(input.plan, input.stageIndex, result.steps.length === 0 ? undefined : result);
  // While the stage runs its result is provisional: show it as pending, its targets as applied.
  return view && !result.finishedAt ? { ...view, status: "pending" } : view;
}

/** The registered orchestration; the rotation yields `rolloutStage(input, stageInstanceId(…))`. */
export const rolloutStage = df.app.orchestration("rolloutStage", rolloutStageOrchestrator);
