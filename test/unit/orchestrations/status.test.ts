/**
 * Custom statuses stay below Durable's 16 KB limit (8,192 characters of JSON) whatever the number of
 * targets, and still count every target: a 40-binding plan at each point of its rollout.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Binding } from "../../../src/domain/bindings.js";
import { buildPlan, type Plan } from "../../../src/domain/plan.js";
import { assembleReport, renderReport, type RolloutReport } from "../../../src/domain/report.js";
import type { ProbeEvidence, RollbackResult, StageResult } from "../../../src/domain/rollback.js";
import {
  CUSTOM_STATUS_LIMIT_CHARS,
  rollbackStatusView,
  rolloutStatusView,
  stageStatusView,
} from "../../../src/orchestrations/status.js";
import {
  CERT,
  aFrontDoorBinding,
  aKubernetesBinding,
  anApimHostnameBinding,
  ids,
} from "../../support/bindingBuilders.js";
import { aStagePolicy } from "../../support/policyBuilders.js";

const VERSION = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const THUMB = "A".repeat(40);
const OLD = "B".repeat(40);

/** 40 bindings over the three hops: 20 Secrets, 10 APIM services, 10 Front Door profiles. */
function fortyBindings(): Binding[] {
  const out: Binding[] = [];
  for (let i = 0; i < 20; i++)
    out.push(
      aKubernetesBinding({
        namespace: `team-${i}-with-a-rather-long-namespace-name`,
        secretName: `tls-secret-number-${i}-for-the-ingress-of-service-${i}`,
        ingressHosts: [`svc-${i}.internal.contoso.test`, `svc-${i}-alt.internal.contoso.test`],
      }),
    );
  for (let i = 0; i < 10; i++)
    out.push(anApimHostnameBinding({ serviceId: ids.apim(`apim-${i}`), hostName: `gw-${i}.contoso.test` }));
  for (let i = 0; i < 10; i++)
    out.push(
      aFrontDoorBinding({
        profileId: ids.profile(`fd-${i}`),
        customDomains: [{ name: `domain-${i}`, hostName: `www-${i}.contoso.test` }],
      }),
    );
  return out;
}

function fortyPlan(): Plan {
  const r = buildPlan({
    policy: aStagePolicy(),
    certificate: {
      ...CERT,
      vaultUrl: "https://kv-lab.vault.azure.net/",
      version: VERSION,
      vaultResourceId: ids.vault(),
      thumbprint: THUMB,
    },
    bindings: fortyBindings(),
  });
  assert.ok(r.ok, JSON.stringify(r));
  return r.plan;
}

const probe = (hostName: string, ok: boolean): ProbeEvidence => ({
  hostName,
  expect: "serves",
  at: "2026-01-01T00:00:00.000Z",
  ok,
  servedThumbprint: ok ? THUMB : OLD,
  ...(ok
    ? {}
    : { detail: `The handshake with ${hostName} showed the previous leaf ${OLD}; waiting.`.repeat(3) }),
});

/** Stage results: every stage before `failing` succeeded; `failing` failed on its probes. */
function results(plan: Plan, failing: number): StageResult[] {
  return plan.stages
    .filter((s) => s.index <= failing)
    .map((s) => ({
      index: s.index,
      stage: s.stage,
      status: s.index < failing ? "succeeded" : "failed",
      startedAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:05:00.000Z",
      steps: s.steps.map((st) => ({
        stepId: st.stepId,
        write: "applied",
        snapshot: {
          kind: "kubernetesSecret",
          existed: true,
          previousVersion: "9".repeat(32),
          previousThumbprint: OLD,
          backupSecretName: `${st.stepId}-backup`.slice(0, 60),
        },
        probes: st.probes.map((p) => probe(p.hostName, s.index < failing)),
        ...(s.index === failing
          ? {
              failure: {
                reason: "ProbeDeadlineExceeded",
                message: `${st.description} never served the new leaf. `.repeat(4),
              },
            }
          : {}),
      })),
      ...(s.index === failing
        ? { failure: { reason: "ProbeDeadlineExceeded", message: "Stage probes did not pass. ".repeat(20) } }
        : {}),
    }));
}

function fullReport(plan: Plan, stageResults: StageResult[], rollback?: RollbackResult): RolloutReport {
  return assembleReport({
    instanceId: "rotate:kv-lab:api-contoso",
    certificate: CERT,
    trigger: { kind: "manual", detail: "POST /api/rollouts" },
    startedAt: "2026-01-01T00:00:00.000Z",
    plan,
    preflight: { verdict: "Proceed", failures: [], notices: [] },
    stageResults,
    ...(rollback ? { rollback } : {}),
  });
}

const size = (v: unknown) => JSON.stringify(v).length;

describe("bounded custom status", () => {
  const plan = fortyPlan();
  const targets = plan.stages.reduce((n, s) => n + s.steps.length, 0);

  it("a 40-binding plan has 40 targets, and its whole report is larger than a custom status may be", () => {
    assert.equal(targets, 40);
    const whole = fullReport(plan, results(plan, plan.stages.length));
    assert.ok(size(whole) > CUSTOM_STATUS_LIMIT_CHARS, `the whole report is ${size(whole)} characters`);
  });

  for (const [title, stagesDone] of [
    ["planned", 0],
    ["the first stage failing", 1],
    ["the second stage failing", 2],
    ["the last stage failing", 3],
  ] as const) {
    it(`the rollout status stays under 8,192 characters: ${title}`, () => {
      const report = fullReport(plan, results(plan, stagesDone));
      const view = rolloutStatusView(report);
      assert.ok(size(view) < CUSTOM_STATUS_LIMIT_CHARS, `${size(view)} characters`);
      assert.equal(view.summary.targets, 40);
      assert.equal(
        Object.values(view.summary.counts).reduce((a, b) => a + b, 0),
        40,
        "every target is counted",
      );
      assert.ok(view.summary.shown < 40, "only a few targets are shown");
      if (stagesDone > 0) {
        assert.equal(view.summary.lastFailure?.reason, "ProbeDeadlineExceeded");
        assert.ok(
          view.stages.some((s) => s.targets.some((t) => t.status === "failed")),
          "failed targets first",
        );
      }
      // The view is still a report every reader can render.
      assert.match(renderReport(view), /Stage 1/);
    });
  }

  it("with a rollback of every target, the rollout and rollback statuses stay bounded", () => {
    const stageResults = results(plan, 3);
    const rollback: RollbackResult = {
      actions: stageResults.flatMap((s) =>
        s.steps.map((st, i) => ({
          stepId: st.stepId,
          verified: i % 3 !== 0,
          probes: st.probes ?? [],
          ...(i % 3 === 0 ? { failure: { reason: "RollbackNotVerified", message: "x".repeat(400) } } : {}),
        })),
      ),
      unrestorable: [{ stepId: "s", reason: "NoSnapshot", message: "y".repeat(500) }],
    };
    const view = rolloutStatusView(fullReport(plan, stageResults, rollback));
    assert.ok(size(view) < CUSTOM_STATUS_LIMIT_CHARS, `${size(view)} characters`);
    assert.equal(view.summary.lastFailure?.reason, "RollbackNotVerified");
    const rb = rollbackStatusView(rollback);
    assert.ok(size(rb) < CUSTOM_STATUS_LIMIT_CHARS);
    assert.equal(rb.actions, 40);
  });

  it("a stage's own status (one stage of 20 targets) stays bounded", () => {
    const report = fullReport(plan, results(plan, 1));
    const stage = report.stages[0]!;
    assert.ok(size(stage) > 2000);
    const view = stageStatusView(stage);
    assert.ok(size(view) < CUSTOM_STATUS_LIMIT_CHARS, `${size(view)} characters`);
    assert.equal(view.summary.targets, stage.targets.length);
  });

  it("a small report is shown whole (every target, its probes)", () => {
    const small = fullReport(
      { ...plan, stages: plan.stages.slice(0, 1).map((s) => ({ ...s, steps: s.steps.slice(0, 2) })) },
      [],
    );
    const view = rolloutStatusView(small);
    assert.equal(view.summary.shown, 2);
    assert.deepEqual(view.stages, small.stages);
  });
});
