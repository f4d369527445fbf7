/**
 * The rollout report a person reads: what was rolled out where, what each target had before and
 * has now, the handshakes that prove it, when, and how it ended and why. {@link assembleReport}
 * builds it from the plan and the recorded results; {@link renderReport} prints it as plain text
 * (for `GET /api/rollouts/{id}`, the CLI and `npm start`).
 */
import type { Stage } from "./bindings.js";
import type { Plan, PlanStage, PlanStep } from "./plan.js";
import type { PreflightResult } from "./preflight.js";
import type { IgnoredBinding } from "./writePolicy.js";
import type {
  FinalOutcome,
  ProbeEvidence,
  Reasoned,
  RollbackResult,
  StageResult,
  StepResult,
  StepSnapshot,
  Unrestorable,
} from "./rollback.js";

/** One action of a rollback result. */
type RollbackAction = RollbackResult["actions"][number];

/** A version and thumbprint pair; either may be unknown. */
export interface VersionRef {
  version?: string;
  thumbprint?: string;
}

/** What started the rollout. */
export interface ReportTrigger {
  kind: "event" | "manual" | "drift";
  /** e.g. `CertificateNearExpiry (event 00ec…)`, `POST /api/rollouts by …`, `drift scan drift:…`. */
  detail: string;
  /**
   * The id of the request that started it (the event id, a generated id per `POST /api/rollouts`,
   * the drift scan's id): after starting, a trigger reads it back from the instance's input to learn
   * whether the rollout that runs is its own (on Azure Storage two concurrent starts can both return).
   */
  requestId?: string;
}

/** One target (one resource write) in the report. */
export interface ReportTarget {
  stepId: string;
  kind: PlanStep["kind"];
  description: string;
  status: "pending" | "applied" | "verified" | "failed" | "notApplied" | "rolledBack" | "rollbackFailed";
  previous: VersionRef;
  next: VersionRef;
  probes: ProbeEvidence[];
  failure?: Reasoned;
  /**
   * An APIM target still waiting for its update (live reports only): in the service's queue, waiting
   * while another rollout holds the service (`heldBy`, its update may carry this change too), or
   * sending the update itself.
   */
  queue?: { state: "queued" | "waiting" | "sending"; heldBy?: string; updatesSent: number };
}

/** One stage in the report. */
export interface ReportStage {
  index: number;
  stage: Stage;
  status: StageResult["status"] | "pending";
  startedAt?: string;
  finishedAt?: string;
  targets: ReportTarget[];
  failure?: Reasoned;
}

/** A queued APIM change in words. */
function queueLine(q: NonNullable<ReportTarget["queue"]>): string {
  switch (q.state) {
    case "queued":
      return "queued for the APIM service's next update";
    case "waiting":
      return `waiting: ${q.heldBy ?? "another rollout"} holds the APIM service (its update may carry this change)`;
    case "sending":
      return `sending the APIM service's update (${q.updatesSent} sent by this rollout, for every queued change)`;
  }
}

/**
 * The run id of one rollout: `<instanceId>@<startedAt>`. The instance id is the certificate's and is
 * reused by every rollout of it (a new rollout replaces the old instance's history); the run id is
 * unique per rollout. `rotateCertificate` gives it to the target writes and the renewal tag; the
 * audit row and the outcome event are keyed by it.
 */
export const rolloutRunId = (instanceId: string, startedAt: string): string => `${instanceId}@${startedAt}`;

/** The run id of a report (a report recorded before `runId` existed derives it the same way). */
export const runIdOf = (r: Pick<RolloutReport, "instanceId" | "startedAt" | "runId">): string =>
  r.runId ?? rolloutRunId(r.instanceId, r.startedAt);

/**
 * The instance id a run id belongs to (the part before its last `@`, when a time follows it), or
 * undefined when `id` is no run id. Rotation instance ids hold no `@` (`idSegment` escapes it).
 */
export function instanceIdOfRun(id: string): string | undefined {
  const at = id.lastIndexOf("@");
  return at > 0 && !Number.isNaN(Date.parse(id.slice(at + 1))) ? id.slice(0, at) : undefined;
}

/**
 * Whether the report is of the rollout `id` names: a run id names that run, an instance id the
 * certificate's latest rollout.
 */
export const namesRollout = (
  id: string,
  report: Pick<RolloutReport, "instanceId" | "startedAt" | "runId">,
): boolean => (instanceIdOfRun(id) ?? id) === id || runIdOf(report) === id;

/** The report of one rollout. */
export interface RolloutReport {
  /** The certificate's orchestration instance id, shared by all its rollouts. */
  instanceId: string;
  /** This rollout's run id ({@link rolloutRunId}); absent in reports recorded before it existed (see {@link runIdOf}). */
  runId?: string;
  certificate: { vaultName: string; certificateName: string };
  trigger: ReportTrigger;
  dryRun: boolean;
  /** The version rolled out; `previous` when all targets had one version before. */
  versions: { previous?: VersionRef; next?: VersionRef };
  /** ISO 8601. */
  startedAt: string;
  finishedAt?: string;
  /** Absent while the rollout runs. */
  outcome?: FinalOutcome;
  preflight?: Pick<PreflightResult, "verdict" | "failures" | "notices">;
  stages: ReportStage[];
  /** Bindings found but left out by `WRITE_POLICY`: nothing was written to them. */
  ignored?: IgnoredBinding[];
  rollback?: {
    actions: {
      stepId: string;
      description: string;
      verified: boolean;
      failure?: Reasoned;
      probes: ProbeEvidence[];
      /** What a person should know: a reference pinned (and how to unpin), a secret kept or deleted. */
      notices?: string[];
    }[];
    unrestorable: Unrestorable[];
  };
}

/** Input of {@link assembleReport}; all parts except the identity are optional (a running rollout has few). */
export interface AssembleReportInput {
  instanceId: string;
  certificate: { vaultName: string; certificateName: string };
  trigger: ReportTrigger;
  startedAt: string;
  finishedAt?: string;
  plan?: Plan;
  preflight?: Pick<PreflightResult, "verdict" | "failures" | "notices">;
  stageResults?: readonly StageResult[];
  rollback?: RollbackResult;
  outcome?: FinalOutcome;
  ignored?: readonly IgnoredBinding[];
}

const versionFromSecretId = (id: string | undefined): string | undefined =>
  id ? /\/secrets\/[^/]+\/([^/?]+)/.exec(id)?.[1] : undefined;

/** The version and thumbprint a target had before, read from its snapshot. */
export function previousOf(snapshot: StepSnapshot | undefined): VersionRef {
  if (!snapshot) return {};
  const pick = (version: string | undefined, thumbprint: string | undefined): VersionRef => ({
    ...(version ? { version } : {}),
    ...(thumbprint ? { thumbprint } : {}),
  });
  switch (snapshot.kind) {
    case "kubernetesSecret":
      return pick(snapshot.previousVersion, snapshot.previousThumbprint);
    case "apimService": {
      const h = snapshot.hostnames[0];
      const c = snapshot.certificates[0];
      return h
        ? pick(versionFromSecretId(h.previousKeyVaultId), h.previousThumbprint)
        : pick(versionFromSecretId(c?.previousSecretIdentifier), c?.previousThumbprint);
    }
    case "frontDoorProfile":
      return pick(snapshot.customDomains[0]?.previousVersion, snapshot.customDomains[0]?.previousThumbprint);
  }
}

/** Builds the report from the plan and whatever results exist so far. Pure. */
export function assembleReport(input: AssembleReportInput): RolloutReport {
  const results = new Map((input.stageResults ?? []).map((r) => [r.index, r]));
  const rolledBack = new Map((input.rollback?.actions ?? []).map((a) => [a.stepId, a]));
  const next = nextVersionOf(input.plan);
  const stages = (input.plan?.stages ?? []).map((ps) =>
    reportStage(ps, results.get(ps.index), rolledBack, next),
  );
  const previous = sharedPrevious(stages);
  return {
    instanceId: input.instanceId,
    runId: rolloutRunId(input.instanceId, input.startedAt),
    certificate: input.certificate,
    trigger: input.trigger,
    dryRun: input.plan?.dryRun ?? false,
    versions: { ...(previous ? { previous } : {}), ...(next ? { next } : {}) },
    startedAt: input.startedAt,
    ...(input.finishedAt ? { finishedAt: input.finishedAt } : {}),
    ...(input.outcome ? { outcome: input.outcome } : {}),
    ...(input.preflight ? { preflight: input.preflight } : {}),
    stages,
    ...(input.ignored?.length ? { ignored: [...input.ignored] } : {}),
    ...(input.rollback ? { rollback: reportRollback(input.rollback, input.plan) } : {}),
  };
}

/**
 * One stage of the plan as the report shows it, from its result so far (none before its targets
 * were written). Pure.
 */
export function assembleStage(plan: Plan, stageIndex: number, result?: StageResult): ReportStage | undefined {
  const ps = plan.stages.find((s) => s.index === stageIndex);
  return ps && reportStage(ps, result, new Map(), nextVersionOf(plan));
}

/** The version the plan rolls out, when there is a plan. */
function nextVersionOf(plan: Plan | undefined): VersionRef | undefined {
  return plan
    ? {
        version: plan.certificate.version,
        ...(plan.certificate.thumbprint ? { thumbprint: plan.certificate.thumbprint } : {}),
      }
    : undefined;
}

/** A planned stage with its result so far and the rollback of its targets. */
function reportStage(
  ps: PlanStage,
  r: StageResult | undefined,
  rolledBack: ReadonlyMap<string, RollbackAction>,
  next: VersionRef | undefined,
): ReportStage {
  const stepResults = new Map((r?.steps ?? []).map((s) => [s.stepId, s]));
  const targets = ps.steps.map((step): ReportTarget => {
    const sr: StepResult | undefined = stepResults.get(step.stepId);
    return {
      stepId: step.stepId,
      kind: step.kind,
      description: step.description,
      status: targetStatus(sr, r, rolledBack.get(step.stepId)),
      previous: previousOf(sr?.snapshot),
      next: next ?? {},
      probes: sr?.probes ?? [],
      ...(sr?.failure ? { failure: sr.failure } : {}),
    };
  });
  return {
    index: ps.index,
    stage: ps.stage,
    status: r?.status ?? "pending",
    ...(r?.startedAt ? { startedAt: r.startedAt } : {}),
    ...(r?.finishedAt ? { finishedAt: r.finishedAt } : {}),
    targets,
    ...(r?.failure ? { failure: r.failure } : {}),
  };
}

/** A target's status from its step's result, its stage's result and its rollback, if any. */
function targetStatus(
  sr: StepResult | undefined,
  r: StageResult | undefined,
  rb: RollbackAction | undefined,
): ReportTarget["status"] {
  if (rb) return rb.verified ? "rolledBack" : "rollbackFailed";
  if (!sr) return r?.status === "notStarted" ? "notApplied" : "pending";
  if (sr.failure) return "failed";
  if (sr.write === "notApplied") return "notApplied";
  return r?.status === "succeeded" ? "verified" : "applied";
}

/** The rollout has one "previous" only when every target that knows its version agrees on it. */
function sharedPrevious(stages: readonly ReportStage[]): VersionRef | undefined {
  const prevs = stages.flatMap((s) => s.targets.map((t) => t.previous)).filter((p) => p.version);
  return prevs.length > 0 && new Set(prevs.map((p) => p.version)).size === 1 ? prevs[0] : undefined;
}

/** The rollback part of the report, each action named by its planned step's description. */
function reportRollback(
  rollback: RollbackResult,
  plan: Plan | undefined,
): NonNullable<RolloutReport["rollback"]> {
  const descriptions = new Map(
    (plan?.stages ?? []).flatMap((ps) => ps.steps.map((step) => [step.stepId, step.description] as const)),
  );
  return {
    actions: rollback.actions.map((a) => ({
      stepId: a.stepId,
      description: descriptions.get(a.stepId) ?? a.stepId,
      verified: a.verified,
      ...(a.failure ? { failure: a.failure } : {}),
      probes: a.probes ?? [],
      ...(a.notices?.length ? { notices: a.notices } : {}),
    })),
    unrestorable: rollback.unrestorable,
  };
}

const MARK: Record<ReportTarget["status"], string> = {
  pending: "[ .. ]",
  applied: "[ -> ]",
  verified: "[ ok ]",
  failed: "[FAIL]",
  notApplied: "[skip]",
  rolledBack: "[back]",
  rollbackFailed: "[!!!!]",
};

function ref(v: VersionRef | undefined): string {
  if (!v || (!v.version && !v.thumbprint)) return "unknown";
  return [v.version ? `version ${v.version}` : "", v.thumbprint ? `thumbprint ${v.thumbprint}` : ""]
    .filter(Boolean)
    .join(", ");
}

function duration(from: string, to: string | undefined): string {
  if (!to) return "";
  const s = Math.max(0, Math.round((new Date(to).getTime() - new Date(from).getTime()) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return ` (${h ? `${h}h ` : ""}${h || m ? `${m}m ` : ""}${s % 60}s)`;
}

function probeLine(p: ProbeEvidence): string {
  const what =
    p.expect === "serves"
      ? `served ${p.servedThumbprint ?? "nothing"}`
      : p.ok
        ? "accepted the request"
        : "refused the request";
  return `${p.ok ? "ok  " : "FAIL"} ${p.hostName} ${what} at ${p.at}${p.detail ? ` (${p.detail})` : ""}`;
}

/** Renders a report as plain text, one fact per line, for a terminal or a log. Pure. */
export function renderReport(r: RolloutReport): string {
  const out: string[] = [];
  const state = r.outcome ? `${r.outcome.state} (${r.outcome.reason})` : "Running";
  out.push(`Rollout ${r.instanceId}: ${state}${r.dryRun ? " [dry run]" : ""}`);
  if (r.outcome) out.push(`  ${r.outcome.message}`);
  out.push(`Run          ${runIdOf(r)}`);
  out.push(`Certificate  ${r.certificate.vaultName}/${r.certificate.certificateName}`);
  out.push(`Trigger      ${r.trigger.kind}: ${r.trigger.detail}`);
  out.push(`From         ${ref(r.versions.previous)}`);
  out.push(`To           ${ref(r.versions.next)}`);
  out.push(`Started      ${r.startedAt}`);
  out.push(
    `Finished     ${r.finishedAt ? `${r.finishedAt}${duration(r.startedAt, r.finishedAt)}` : "not yet"}`,
  );
  if (r.preflight) {
    out.push(`Preflight    ${r.preflight.verdict}`);
    for (const f of r.preflight.failures) out.push(`  FAIL ${f.reason}: ${f.message}`);
    for (const n of r.preflight.notices) out.push(`  note ${n.reason}: ${n.message}`);
  }
  for (const i of r.ignored ?? []) out.push(`Ignored      ${i.reason}: ${i.message}`);
  for (const s of r.stages) {
    out.push("");
    const when = s.startedAt
      ? ` ${s.startedAt} -> ${s.finishedAt ?? "..."}${duration(s.startedAt, s.finishedAt)}`
      : "";
    out.push(`Stage ${s.index} ${s.stage}: ${s.status}${when}`);
    if (s.failure) out.push(`  ${s.failure.reason}: ${s.failure.message}`);
    for (const t of s.targets) {
      out.push(`  ${MARK[t.status]} ${t.description}`);
      out.push(`         before: ${ref(t.previous)}`);
      out.push(
        `         after:  ${t.status === "rolledBack" ? ref(t.previous) + " (rolled back)" : ref(t.next)}`,
      );
      if (t.failure) out.push(`         ${t.failure.reason}: ${t.failure.message}`);
      if (t.queue) out.push(`         ${queueLine(t.queue)}`);
      for (const p of t.probes) out.push(`         ${probeLine(p)}`);
    }
  }
  if (r.rollback) {
    out.push("");
    out.push("Rollback");
    for (const a of r.rollback.actions) {
      out.push(
        `  ${a.verified ? "[back]" : "[!!!!]"} ${a.description}${a.verified ? " verified" : " NOT verified"}`,
      );
      if (a.failure) out.push(`         ${a.failure.reason}: ${a.failure.message}`);
      for (const n of a.notices ?? []) out.push(`         note: ${n}`);
      for (const p of a.probes) out.push(`         ${probeLine(p)}`);
    }
    for (const u of r.rollback.unrestorable) out.push(`  [!!!!] ${u.stepId}: ${u.reason}: ${u.message}`);
  }
  return out.join("\n") + "\n";
}
