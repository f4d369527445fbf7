/**
 * Bounded custom statuses. Durable Functions caps an instance's custom status at 16 KB of UTF-16
 * (8,192 characters of JSON) and fails the orchestration when it is larger, so the live report an
 * orchestration shows must stay small whatever the number of targets. These views keep the report's
 * shape (so every reader of a running rollout keeps working) but show at most a few targets, trim
 * probes and sentences, and carry a `summary` with the counts per status, the stage in progress
 * and the last failure. The whole report is the orchestration's output when it ends, and the
 * rotation upserts it as the audit record after every stage while it runs. Pure.
 */
import type { ReportStage, ReportTarget, RolloutReport } from "../domain/report.js";
import type { ProbeEvidence, Reasoned, RollbackResult } from "../domain/rollback.js";

/** Durable's limit on a custom status, in characters of JSON. */
export const CUSTOM_STATUS_LIMIT_CHARS = 8192;

/** The budget the views aim for, leaving room below the limit. */
export const STATUS_BUDGET_CHARS = 6000;

/** Targets shown in full at most, across every stage. */
export const MAX_SHOWN_TARGETS = 8;

/** Counts and the latest news of a rollout or a stage. */
export interface StatusSummary {
  /** Targets planned. */
  targets: number;
  /** Targets shown in `stages[].targets` (the rest are only counted). */
  shown: number;
  /** Targets per report status (`verified`, `applied`, `failed`, …). */
  counts: Record<string, number>;
  /** The stage running or last run, when there is one. */
  stage?: { index: number; stage: string; status: string };
  /** The most recent failure (stage, target or rollback), trimmed. */
  lastFailure?: Reasoned;
  /** Where the whole report is while the rollout runs. */
  fullReport: string;
}

/** A rollout's custom status: the report, bounded, plus counts. */
export type RolloutStatusView = RolloutReport & { summary: StatusSummary };

/** A stage's custom status: the stage as the report shows it, bounded, plus counts. */
export type StageStatusView = ReportStage & { summary: StatusSummary };

const cut = (text: string, max: number): string =>
  text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;

const reasoned = (r: Reasoned, max: number): Reasoned => ({
  reason: cut(r.reason, 80),
  message: cut(r.message, max),
});

/** Failing probes first, at most `max`, details trimmed. */
function trimProbes(probes: readonly ProbeEvidence[], max: number, detail: number): ProbeEvidence[] {
  const failing = probes.filter((p) => !p.ok);
  return (failing.length ? failing : probes).slice(0, max).map((p) => ({
    ...p,
    ...(p.detail ? { detail: cut(p.detail, detail) } : {}),
  }));
}

function trimTarget(t: ReportTarget, level: Level): ReportTarget {
  return {
    ...t,
    description: cut(t.description, level.text),
    probes: trimProbes(t.probes, level.probes, level.text),
    ...(t.failure ? { failure: reasoned(t.failure, level.text) } : {}),
  };
}

const ORDER: Record<ReportTarget["status"], number> = {
  rollbackFailed: 0,
  failed: 1,
  applied: 2,
  pending: 3,
  rolledBack: 4,
  notApplied: 5,
  verified: 6,
};

/** The targets to show: the ones that need a reader's eyes first, in plan order. */
function pick(stages: readonly ReportStage[], max: number): Set<string> {
  const all = stages.flatMap((s) => s.targets.map((t, i) => ({ t, key: `${s.index}/${i}` })));
  const chosen = [...all]
    .sort((a, b) => ORDER[a.t.status] - ORDER[b.t.status])
    .slice(0, max)
    .map((x) => x.key);
  return new Set(chosen);
}

interface Level {
  targets: number;
  probes: number;
  text: number;
}

/** Progressively smaller views, until one fits the budget. */
const LEVELS: Level[] = [
  { targets: MAX_SHOWN_TARGETS, probes: 2, text: 300 },
  { targets: 4, probes: 1, text: 160 },
  { targets: 2, probes: 0, text: 100 },
  { targets: 0, probes: 0, text: 80 },
];

function counts(stages: readonly ReportStage[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of stages) for (const t of s.targets) out[t.status] = (out[t.status] ?? 0) + 1;
  return out;
}

function lastFailure(report: Pick<RolloutReport, "stages" | "rollback" | "outcome">): Reasoned | undefined {
  const rb = report.rollback;
  const fromRollback = rb
    ? ([...rb.actions].reverse().find((a) => a.failure)?.failure ?? rb.unrestorable.at(-1))
    : undefined;
  if (fromRollback) return { reason: fromRollback.reason, message: fromRollback.message };
  for (const s of [...report.stages].reverse()) {
    if (s.failure) return s.failure;
    const t = [...s.targets].reverse().find((x) => x.failure);
    if (t?.failure) return t.failure;
  }
  return undefined;
}

function currentStage(stages: readonly ReportStage[]): StatusSummary["stage"] {
  const s =
    stages.find((x) => x.status === "pending" && x.startedAt) ??
    [...stages].reverse().find((x) => x.status !== "pending") ??
    stages.find((x) => x.status === "pending");
  return s ? { index: s.index, stage: s.stage, status: s.status } : undefined;
}

const FULL_REPORT =
  "The audit record of this rollout (upserted after every stage) while it runs; the orchestration output when it ends.";

const fits = (value: unknown, budget: number) => JSON.stringify(value).length <= budget;

/**
 * The rollout report bounded for a custom status: at most {@link MAX_SHOWN_TARGETS} targets (the
 * failed and in-flight ones first), the failing probes of each, sentences trimmed, with a summary
 * that counts every target. Always below `budget` characters of JSON (default {@link STATUS_BUDGET_CHARS}).
 */
export function rolloutStatusView(report: RolloutReport, budget = STATUS_BUDGET_CHARS): RolloutStatusView {
  const planned = report.stages.reduce((n, s) => n + s.targets.length, 0);
  const failure = lastFailure(report);
  let view: RolloutStatusView | undefined;
  for (const level of LEVELS) {
    const shown = pick(report.stages, level.targets);
    const stages = report.stages.map((s) => ({
      ...s,
      ...(s.failure ? { failure: reasoned(s.failure, level.text) } : {}),
      targets: s.targets.flatMap((t, i) => (shown.has(`${s.index}/${i}`) ? [trimTarget(t, level)] : [])),
    }));
    const rollback = report.rollback ? trimRollback(report.rollback, level) : undefined;
    const stage = currentStage(report.stages);
    view = {
      ...report,
      ...(report.outcome
        ? { outcome: { ...report.outcome, message: cut(report.outcome.message, 1500) } }
        : {}),
      ...(report.preflight
        ? {
            preflight: {
              verdict: report.preflight.verdict,
              failures: report.preflight.failures.slice(0, 4).map((f) => ({
                ...f,
                message: cut(f.message, level.text),
              })),
              notices: report.preflight.notices.slice(0, 2).map((n) => ({
                ...n,
                message: cut(n.message, level.text),
              })),
            },
          }
        : {}),
      stages,
      ...(rollback ? { rollback } : {}),
      summary: {
        targets: planned,
        shown: Math.min(shown.size, planned),
        counts: counts(report.stages),
        ...(stage ? { stage } : {}),
        ...(failure ? { lastFailure: reasoned(failure, level.text) } : {}),
        fullReport: FULL_REPORT,
      },
    };
    if (fits(view, budget)) return view;
  }
  // Even the smallest view is too large (a vast plan of stages): keep the identity and the counts.
  const minimal: RolloutStatusView = {
    ...(view as RolloutStatusView),
    stages: report.stages
      .slice(0, 12)
      .map((s) => ({ index: s.index, stage: s.stage, status: s.status, targets: [] })),
    rollback: undefined,
    preflight: undefined,
  };
  delete minimal.rollback;
  delete minimal.preflight;
  return minimal;
}

/** The rollback part of a report, bounded like the targets. */
function trimRollback(
  rb: NonNullable<RolloutReport["rollback"]>,
  level: Level,
): NonNullable<RolloutReport["rollback"]> {
  const actions = [...rb.actions].sort((a, b) => Number(a.verified) - Number(b.verified));
  return {
    actions: actions.slice(0, Math.max(level.targets, 1)).map((a) => ({
      ...a,
      description: cut(a.description, level.text),
      ...(a.failure ? { failure: reasoned(a.failure, level.text) } : {}),
      probes: trimProbes(a.probes, level.probes, level.text),
    })),
    unrestorable: rb.unrestorable.slice(0, Math.max(level.targets, 1)).map((u) => ({
      ...u,
      message: cut(u.message, level.text),
    })),
  };
}

/** One stage's view bounded for the stage's custom status (same rules as {@link rolloutStatusView}). */
export function stageStatusView(stage: ReportStage, budget = STATUS_BUDGET_CHARS): StageStatusView {
  let view: StageStatusView | undefined;
  const failure = lastFailure({ stages: [stage] });
  for (const level of LEVELS) {
    const shown = pick([stage], level.targets);
    view = {
      ...stage,
      ...(stage.failure ? { failure: reasoned(stage.failure, level.text) } : {}),
      targets: stage.targets.flatMap((t, i) =>
        shown.has(`${stage.index}/${i}`) ? [trimTarget(t, level)] : [],
      ),
      summary: {
        targets: stage.targets.length,
        shown: shown.size,
        counts: counts([stage]),
        stage: { index: stage.index, stage: stage.stage, status: stage.status },
        ...(failure ? { lastFailure: reasoned(failure, level.text) } : {}),
        fullReport: FULL_REPORT,
      },
    };
    if (fits(view, budget)) return view;
  }
  return view as StageStatusView;
}

/** The rollback's custom status: counts, and the first actions that failed. */
export function rollbackStatusView(result: RollbackResult): {
  actions: number;
  verified: number;
  failed: { stepId: string; failure?: Reasoned }[];
  unrestorable: number;
} {
  return {
    actions: result.actions.length,
    verified: result.actions.filter((a) => a.verified).length,
    failed: result.actions
      .filter((a) => !a.verified)
      .slice(0, 5)
      .map((a) => ({
        stepId: cut(a.stepId, 120),
        ...(a.failure ? { failure: reasoned(a.failure, 200) } : {}),
      })),
    unrestorable: result.unrestorable.length,
  };
}
