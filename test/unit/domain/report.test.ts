import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPlan, type Plan, type PlanStep } from "../../../src/domain/plan.js";
import { finalState, type StageResult, type StepSnapshot } from "../../../src/domain/rollback.js";
import {
  assembleReport,
  instanceIdOfRun,
  previousOf,
  renderReport,
  runIdOf,
  type AssembleReportInput,
} from "../../../src/domain/report.js";
import {
  CERT,
  aFrontDoorBinding,
  aKubernetesBinding,
  anApimHostnameBinding,
  ids,
} from "../../support/bindingBuilders.js";
import { aStagePolicy } from "../../support/policyBuilders.js";

const T_OLD = "A1".repeat(20);
const T_NEW = "B2".repeat(20);

function thePlan(): Plan {
  const r = buildPlan({
    policy: aStagePolicy(),
    certificate: {
      ...CERT,
      vaultUrl: "https://kv-lab.vault.azure.net",
      version: "v2",
      vaultResourceId: ids.vault(),
      thumbprint: T_NEW,
    },
    bindings: [
      aKubernetesBinding(),
      anApimHostnameBinding(),
      aFrontDoorBinding({ secretName: "api-contoso-v1" }),
    ],
  });
  assert.ok(r.ok);
  return r.plan;
}

function snapshot(step: PlanStep): StepSnapshot {
  switch (step.kind) {
    case "kubernetesSecret":
      return { kind: "kubernetesSecret", existed: true, previousVersion: "v1", previousThumbprint: T_OLD };
    case "apimService":
      return {
        kind: "apimService",
        hostnames: step.hostnames.map((h) => ({
          ...h,
          previousKeyVaultId: "https://kv-lab.vault.azure.net/secrets/api-contoso/v1",
          previousThumbprint: T_OLD,
        })),
        certificates: [],
      };
    case "frontDoorProfile":
      return {
        kind: "frontDoorProfile",
        customDomains: step.customDomains.map((d) => ({
          ...d,
          previousVersion: "v1",
          previousThumbprint: T_OLD,
        })),
        createdSecretName: step.newSecretName,
      };
  }
}

function results(plan: Plan, failAt?: number): StageResult[] {
  return plan.stages.map((s, i) => {
    const failed = s.index === failAt;
    const notStarted = failAt !== undefined && s.index > failAt;
    const start = new Date(Date.UTC(2026, 5, 1, 12, i * 10)).toISOString();
    const end = new Date(Date.UTC(2026, 5, 1, 12, i * 10 + 5, 30)).toISOString();
    return {
      index: s.index,
      stage: s.stage,
      status: notStarted ? "notStarted" : failed ? "failed" : "succeeded",
      ...(notStarted ? {} : { startedAt: start, finishedAt: end }),
      steps: notStarted
        ? []
        : s.steps.map((st) => ({
            stepId: st.stepId,
            write: "applied" as const,
            snapshot: snapshot(st),
            probes: st.probes.map((p) => ({
              ...p,
              at: end,
              ok: !failed,
              servedThumbprint: failed ? T_OLD : T_NEW,
            })),
            ...(failed
              ? {
                  failure: {
                    reason: "ProbeDeadlineExceeded",
                    message: "gw.contoso.test still served the old certificate.",
                  },
                }
              : {}),
          })),
      ...(failed
        ? {
            failure: {
              reason: "ProbeDeadlineExceeded",
              message: "Stage 2 did not serve the new certificate in time.",
            },
          }
        : {}),
    };
  });
}

const base = (plan: Plan): AssembleReportInput => ({
  instanceId: "rotate:kv-lab:api-contoso",
  certificate: CERT,
  trigger: { kind: "event", detail: "CertificateNearExpiry (event evt-1)" },
  startedAt: "2026-06-01T11:59:00.000Z",
  plan,
  preflight: { verdict: "Proceed", failures: [], notices: [] },
});

test("previous version and thumbprint are read from each kind of snapshot", () => {
  const plan = thePlan();
  for (const step of plan.stages.flatMap((s) => s.steps)) {
    const p = previousOf(snapshot(step));
    assert.equal(p.thumbprint, T_OLD, step.kind);
    assert.equal(p.version, "v1", step.kind);
  }
  assert.deepEqual(previousOf(undefined), {});
});

test("a successful rollout reports every target verified, before and after, with probe evidence", () => {
  const plan = thePlan();
  const stageResults = results(plan);
  const outcome = finalState({ stages: stageResults });
  const report = assembleReport({
    ...base(plan),
    stageResults,
    outcome,
    finishedAt: "2026-06-01T12:25:31.000Z",
  });
  assert.deepEqual(
    report.stages.map((s) => [s.stage, s.status]),
    [
      ["kubernetes", "succeeded"],
      ["apim", "succeeded"],
      ["frontDoor", "succeeded"],
    ],
  );
  assert.ok(report.stages.every((s) => s.targets.every((t) => t.status === "verified")));
  assert.deepEqual(report.versions.previous, { version: "v1", thumbprint: T_OLD });
  assert.deepEqual(report.versions.next, { version: "v2", thumbprint: T_NEW });

  const text = renderReport(report);
  assert.match(text, /^Rollout rotate:kv-lab:api-contoso: Succeeded \(AllTargetsVerified\)$/m);
  assert.match(text, /^From {9}version v1, thumbprint A1A1/m);
  assert.match(text, /^To {11}version v2, thumbprint B2B2/m);
  assert.match(text, /^Finished {5}2026-06-01T12:25:31.000Z \(26m 31s\)$/m);
  assert.match(
    text,
    /Stage 1 kubernetes: succeeded 2026-06-01T12:00:00.000Z -> 2026-06-01T12:05:30.000Z \(5m 30s\)/,
  );
  assert.match(text, /\[ ok \] Write tls\.crt\/tls\.key of Secret api\/api-tls in lab\./);
  assert.match(text, new RegExp(`ok {3}backend\\.contoso\\.test served ${T_NEW}`));
  assert.equal((text.match(/\[ ok \]/g) ?? []).length, 3);
  assert.doesNotMatch(text, /Rollback/);
});

test("a rolled-back rollout shows the failure, the rolled-back targets and the untouched stage", () => {
  const plan = thePlan();
  const stageResults = results(plan, 2);
  const rollback = {
    actions: plan.stages
      .slice(0, 2)
      .flatMap((s) => s.steps.map((st) => ({ stepId: st.stepId, verified: true }))),
    unrestorable: [],
  };
  const outcome = finalState({ stages: stageResults, rollback });
  const report = assembleReport({ ...base(plan), stageResults, rollback, outcome });
  assert.equal(report.outcome?.state, "RolledBack");
  assert.deepEqual(
    report.stages.map((s) => s.targets.map((t) => t.status)),
    [["rolledBack"], ["rolledBack"], ["notApplied"]],
  );
  const text = renderReport(report);
  assert.match(text, /RolledBack \(ProbeDeadlineExceeded\)/);
  assert.match(text, /Stage 2 apim: failed/);
  assert.match(text, /after: {2}version v1, thumbprint A1A1.* \(rolled back\)/);
  assert.match(text, /FAIL gw\.contoso\.test served A1A1/);
  assert.match(text, /Stage 3 frontDoor: notStarted\n {2}\[skip\]/);
  assert.match(text, /^Rollback$/m);
  assert.equal((text.match(/verified$/gm) ?? []).length, 2);
  assert.match(text, /^Finished {5}not yet$/m);
});

test("a rollback that could not be verified is flagged for a person", () => {
  const plan = thePlan();
  const stageResults = results(plan, 1);
  const rollback = {
    actions: [
      {
        stepId: plan.stages[0]!.steps[0]!.stepId,
        verified: false,
        failure: { reason: "Conflict", message: "The Secret was changed by someone else." },
      },
    ],
    unrestorable: [{ stepId: "x", reason: "NoSnapshot", message: "No snapshot was recorded." }],
  };
  const report = assembleReport({
    ...base(plan),
    stageResults,
    rollback,
    outcome: finalState({ stages: stageResults, rollback }),
  });
  const text = renderReport(report);
  assert.match(text, /NeedsAttention \(RollbackIncomplete\)/);
  assert.match(text, /\[!!!!\] .* NOT verified/);
  assert.match(text, /Conflict: The Secret was changed by someone else\./);
  assert.match(text, /\[!!!!\] x: NoSnapshot/);
});

test("a rejected rollout lists every preflight failure and no stage ran", () => {
  const plan = thePlan();
  const preflight = {
    verdict: "Rejected" as const,
    failures: [
      { reason: "SanMismatch" as const, message: "The certificate does not cover gw.contoso.test." },
      { reason: "ChainIncomplete" as const, message: "The issuer is missing." },
    ],
    notices: [],
  };
  const report = assembleReport({ ...base(plan), preflight, outcome: finalState({ preflight }) });
  const text = renderReport(report);
  assert.match(text, /Rejected \(SanMismatch\)/);
  assert.match(text, /^Preflight {4}Rejected$/m);
  assert.match(text, /FAIL SanMismatch: .*\n {2}FAIL ChainIncomplete:/);
  assert.ok(report.stages.every((s) => s.status === "pending"));
});

test("a running rollout renders without an outcome and survives JSON", () => {
  const plan = thePlan();
  const report = assembleReport({ ...base(plan), stageResults: results(plan).slice(0, 1) });
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
  assert.match(renderReport(report), /: Running$/m);
});

test("each rollout of one certificate has its own run id, and the run id names its instance", () => {
  const plan = thePlan();
  const first = assembleReport(base(plan));
  const next = assembleReport({ ...base(plan), startedAt: "2027-05-01T08:00:00.000Z" });
  assert.equal(first.instanceId, next.instanceId);
  assert.equal(first.runId, "rotate:kv-lab:api-contoso@2026-06-01T11:59:00.000Z");
  assert.notEqual(first.runId, next.runId);
  assert.equal(instanceIdOfRun(first.runId ?? ""), first.instanceId);
  assert.equal(instanceIdOfRun(first.instanceId), undefined, "an instance id is no run id");
  assert.equal(instanceIdOfRun("a@not-a-time"), undefined);
  const { runId: _dropped, ...recordedBefore } = first;
  assert.equal(runIdOf(recordedBefore), first.runId, "a report recorded before runId existed derives it");
  assert.match(renderReport(first), /^Run {10}rotate:kv-lab:api-contoso@2026-06-01T11:59:00\.000Z$/m);
});
