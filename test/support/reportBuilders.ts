/**
 * Builders of rollout reports for tests: a small valid report, stage and target, each overridable.
 */
import type { ReportStage, ReportTarget, RolloutReport } from "../../src/domain/report.js";

/** A target of a Kubernetes Secret, pending. */
export function aTarget(over: Partial<ReportTarget> = {}): ReportTarget {
  return {
    stepId: "kubernetes:api/backend-tls",
    kind: "kubernetesSecret",
    description: "Kubernetes Secret api/backend-tls",
    status: "pending",
    previous: {},
    next: { version: "v2" },
    probes: [],
    ...over,
  };
}

/** A stage with one pending target, not started. */
export function aStage(over: Partial<ReportStage> = {}): ReportStage {
  return { index: 1, stage: "kubernetes", status: "pending", targets: [aTarget()], ...over };
}

/** A running rollout's report with one stage. */
export function aReport(over: Partial<RolloutReport> = {}): RolloutReport {
  return {
    instanceId: "rotate:kv-contoso:ingress-tls",
    runId: "rotate:kv-contoso:ingress-tls@2026-06-01T12:00:00.000Z",
    certificate: { vaultName: "kv-contoso", certificateName: "ingress-tls" },
    trigger: { kind: "manual", detail: "POST /api/rollouts" },
    dryRun: false,
    versions: { next: { version: "v2" } },
    startedAt: "2026-06-01T12:00:00.000Z",
    stages: [aStage()],
    ...over,
  };
}

/** A live view (custom status) of `report` that shows `shown` of `targets` targets. */
export const aLiveView = (report: RolloutReport, shown: number, targets: number): RolloutReport =>
  ({ ...report, summary: { targets, shown, counts: {}, fullReport: "" } }) as RolloutReport;
