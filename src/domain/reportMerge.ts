/**
 * Joining what is known about a running rollout: its live view (the orchestration's custom status,
 * bounded to a few targets) and its audit row (the whole report as of the last finished stage).
 * Pure.
 */
import type { ReportStage, ReportTarget, RolloutReport } from "./report.js";

/** Counts a live view carries beside its bounded targets. */
export interface ShownCounts {
  /** Targets planned. */
  targets: number;
  /** Targets the view shows. */
  shown: number;
}

/** The report of a running rollout: the audited report joined with the live view, and the live counts. */
export type MergedReport = RolloutReport & { progress?: ShownCounts };

const countsOf = (live: RolloutReport): ShownCounts | undefined =>
  (live as { summary?: ShownCounts }).summary;

/**
 * Whether the live view leaves targets out (Durable caps a custom status at 16 KB), so the whole
 * report has to come from the audit row.
 */
export function leavesTargetsOut(live: RolloutReport): boolean {
  const counts = countsOf(live);
  return counts !== undefined && counts.shown < counts.targets;
}

/**
 * The report to show for a rollout that has a live view: the live view itself when it shows every
 * target (or nothing audited is known); otherwise the audited report with what the live view knows
 * since the row was written, and the live view's summary (its counts) as `progress`. A stage the
 * row still shows pending but the live view shows started takes the live status, times and
 * failure, and the targets the live view shows replace the row's; the others keep the row's
 * entries. Without it the stage running now would read "pending, before: unknown" even after it
 * wrote its targets.
 */
export function mergeReports(live: RolloutReport, audited: RolloutReport | undefined): MergedReport {
  const counts = countsOf(live);
  if (!audited || !counts || !leavesTargetsOut(live)) return live;
  return {
    ...audited,
    stages: audited.stages.map((stage) =>
      mergeStage(
        stage,
        live.stages.find((s) => s.index === stage.index),
      ),
    ),
    progress: counts,
  };
}

/** One audited stage with its live view (see {@link mergeReports}). */
function mergeStage(audited: ReportStage, live: ReportStage | undefined): ReportStage {
  if (audited.status !== "pending" || !live?.startedAt) return audited;
  const shown = new Map(live.targets.map((t) => [t.stepId, t]));
  return {
    ...audited,
    status: live.status,
    startedAt: live.startedAt,
    ...(live.finishedAt ? { finishedAt: live.finishedAt } : {}),
    ...(live.failure ? { failure: live.failure } : {}),
    targets: audited.targets.map((t) => shown.get(t.stepId) ?? t),
  };
}

/**
 * A rotation's live view with its running stage replaced by that stage's own live view (which the
 * stage orchestration keeps more current: per-target progress while it applies and probes).
 */
export function withRunningStage(report: RolloutReport, stage: ReportStage): RolloutReport {
  return { ...report, stages: report.stages.map((s) => (s.index === stage.index ? stage : s)) };
}

/** A stage with each target found in `queues` (by step id) showing its place in an APIM service's queue. */
export function withQueuePlaces(
  stage: ReportStage,
  queues: ReadonlyMap<string, NonNullable<ReportTarget["queue"]>>,
): ReportStage {
  if (!queues.size) return stage;
  return {
    ...stage,
    targets: stage.targets.map((t) => {
      const queue = queues.get(t.stepId);
      return queue ? { ...t, queue } : t;
    }),
  };
}
