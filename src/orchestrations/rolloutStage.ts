/**
 * Orchestration `rolloutStage`: one stage (hop) of a rollout.
 *
 * 1. Apply every step of the stage in parallel, one `applyTarget` sub-orchestration per resource.
 * 2. If any write failed, stop: the stage failed (the rotation rolls back what was applied).
 * 3. Probe every endpoint of the stage with real handshakes until each serves the new leaf (and,
 *    after the outermost stage, a request through the whole chain succeeds), or the deadline passes.
 *    A "cancel" event ends the wait; the stage then reports itself cancelled.
 *
 * Custom status: the stage as the report shows it, so a reader sees per-target progress live.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { probeEndpoints } from "../activities/probeEndpoints.js";
import type { ProbeSpec } from "../domain/bindings.js";
import { fitInstanceId } from "../domain/instanceIds.js";
import type { Plan, PlanStage } from "../domain/plan.js";
import { assembleReport, type ReportStage, type ReportTrigger } from "../domain/report.js";
import type { ProbeEvidence, Reasoned, StageResult, StepResult } from "../domain/rollback.js";
import { applyTarget, errorSentence, type ApplyTargetInput } from "./applyTarget.js";
import type { RolloutPolicy } from "./policy.js";
import { after, call, sleepUnlessCancelled, type Flow } from "./tasks.js";

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

function* rolloutStageOrchestrator(context: OrchestrationContext): Flow<RolloutStageOutput> {
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
  const show = () => context.df.setCustomStatus(liveStage(input, result));
  show();

  // 1. Every resource of the stage at once.
  const targets = stage.steps.map((step, i) => {
    const targetInput: ApplyTargetInput = {
      step,
      certificate: input.plan.certificate,
      rotationId: input.runId,
      policy: input.policy,
      deadlineSeconds: stage.probeDeadlineSeconds,
    };
    return applyTarget(targetInput, targetInstanceId(context.df.instanceId, i));
  });
  let steps: StepResult[];
  try {
    steps = (yield context.df.Task.all(targets)) as StepResult[];
  } catch (error) {
    // A target orchestration itself failed (it catches activity failures, so this is a bug or a crash).
    steps = stage.steps.map((s) => ({
      stepId: s.stepId,
      write: "unknown",
      failure: { reason: "TargetOrchestrationFailed", message: errorSentence(error, s.description) },
    }));
  }
  result.steps = steps;
  result.status = "failed";

  // 2. A write failed: stop here.
  const writeFailure = steps.find((s) => s.failure)?.failure;
  if (writeFailure) return finish(context, result, writeFailure);
  show();

  // 3. Probe until every endpoint serves the new certificate, or the deadline.
  const probes = uniqueProbes(stage.steps.flatMap((s) => s.probes));
  const deadline = after(context, stage.probeDeadlineSeconds).getTime();
  for (;;) {
    let evidence: ProbeEvidence[] = [];
    let ok = false;
    try {
      const answer = yield* call(
        probeEndpoints,
        {
          stage: stage.stage,
          probes,
          ...(input.plan.certificate.thumbprint
            ? { expectThumbprint: input.plan.certificate.thumbprint }
            : {}),
          endToEnd: input.endToEnd,
        },
        input.policy,
      );
      evidence = answer.evidence;
      ok = answer.ok;
    } catch (error) {
      evidence = [
        {
          hostName: probes[0]?.hostName ?? "(none)",
          expect: "serves",
          at: context.df.currentUtcDateTime.toISOString(),
          ok: false,
          detail: errorSentence(error, "Probing the stage"),
        },
      ];
    }
    result.steps = attachEvidence(stage, steps, evidence);
    if (ok) {
      result.status = "succeeded";
      return finish(context, result);
    }
    if (context.df.currentUtcDateTime.getTime() >= deadline) {
      const failing = evidence.filter((e) => !e.ok);
      return finish(context, result, {
        reason: "ProbeDeadlineExceeded",
        message: `Stage ${stage.index} (${stage.stage}): after ${Math.round(stage.probeDeadlineSeconds)} s ${failing.map((e) => `${e.hostName} ${e.servedThumbprint ? `still served ${e.servedThumbprint}` : "failed"}${e.detail ? ` (${e.detail})` : ""}`).join("; ") || "the probes did not pass"}.`,
      });
    }
    show();
    if (yield* sleepUnlessCancelled(context, input.policy.probeIntervalSeconds, cancel)) {
      result.status = "cancelled";
      return finish(context, result, {
        reason: "Cancelled",
        message: "The rollout was cancelled on request.",
      });
    }
  }
}

function finish(context: OrchestrationContext, result: StageResult, failure?: Reasoned): StageResult {
  const done: StageResult = {
    ...result,
    ...(failure ? { failure } : {}),
    finishedAt: context.df.currentUtcDateTime.toISOString(),
  };
  return done;
}

/** The latest evidence per step, by the host names each step probes. */
function attachEvidence(stage: PlanStage, steps: StepResult[], evidence: ProbeEvidence[]): StepResult[] {
  return steps.map((s) => {
    const planned = stage.steps.find((p) => p.stepId === s.stepId);
    const hosts = new Set((planned?.probes ?? []).map((p) => p.hostName.toLowerCase()));
    const mine = evidence.filter((e) => hosts.has(e.hostName.toLowerCase()));
    return { ...s, probes: mine.length ? mine : evidence.filter((e) => !hosts.size && e) };
  });
}

function uniqueProbes(probes: ProbeSpec[]): ProbeSpec[] {
  const seen = new Map<string, ProbeSpec>();
  for (const p of probes) seen.set(`${p.hostName.toLowerCase()}|${p.expect}`, p);
  return [...seen.values()];
}

/** The stage as the report shows it (custom status), from a one-stage view of the plan. */
export function liveStage(input: RolloutStageInput, result: StageResult): ReportStage | undefined {
  const plan: Plan = { ...input.plan, stages: input.plan.stages.filter((s) => s.index === input.stageIndex) };
  const view = assembleReport({
    instanceId: input.rotationId,
    certificate: input.plan.certificate,
    trigger: input.trigger,
    startedAt: result.startedAt ?? "",
    plan,
    stageResults: result.steps.length === 0 ? [] : [result],
  }).stages[0];
  // While the stage runs its result is provisional: show it as pending, its targets as applied.
  return view && !result.finishedAt ? { ...view, status: "pending" } : view;
}

/** The registered orchestration; the rotation yields `rolloutStage(input, stageInstanceId(…))`. */
export const rolloutStage = df.app.orchestration("rolloutStage", rolloutStageOrchestrator);
