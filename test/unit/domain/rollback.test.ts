import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPlan, planSteps, type Plan, type PlanStep } from "../../../src/domain/plan.js";
import {
  finalState,
  planRollback,
  type FinalState,
  type OutcomeInput,
  type StageResult,
  type StepResult,
  type StepSnapshot,
} from "../../../src/domain/rollback.js";
import {
  CERT,
  aFrontDoorBinding,
  aKubernetesBinding,
  anApimCertificateBinding,
  anApimHostnameBinding,
  ids,
} from "../../support/bindingBuilders.js";
import { aStagePolicy } from "../../support/policyBuilders.js";

const OLD_KV = "https://kv-lab.vault.azure.net/secrets/api-contoso/1111";
const THUMB_OLD = "A".repeat(40);

function thePlan(): Plan {
  const r = buildPlan({
    policy: aStagePolicy(),
    certificate: {
      ...CERT,
      vaultUrl: "https://kv-lab.vault.azure.net",
      version: "2222",
      vaultResourceId: ids.vault(),
    },
    bindings: [
      aKubernetesBinding({ restartDeployments: ["backend"] }),
      anApimHostnameBinding(),
      anApimCertificateBinding(),
      aFrontDoorBinding({ secretName: "api-contoso-1111" }),
    ],
  });
  assert.ok(r.ok);
  return r.plan;
}

/** A snapshot that allows restoring the given step. */
function goodSnapshot(step: PlanStep): StepSnapshot {
  switch (step.kind) {
    case "kubernetesSecret":
      return {
        kind: "kubernetesSecret",
        existed: true,
        previousVersion: "1111",
        previousThumbprint: THUMB_OLD,
        resourceVersionAfterWrite: "42",
      };
    case "apimService":
      return {
        kind: "apimService",
        hostnames: step.hostnames.map((h) => ({
          ...h,
          previousKeyVaultId: OLD_KV,
          previousThumbprint: THUMB_OLD,
        })),
        certificates: step.certificates.map((c) => ({
          certificateId: c.certificateId,
          previousSecretIdentifier: OLD_KV,
        })),
      };
    case "frontDoorProfile":
      return {
        kind: "frontDoorProfile",
        customDomains: step.customDomains.map((d) => ({ ...d, previousThumbprint: THUMB_OLD })),
        createdSecretName: step.newSecretName,
      };
  }
}

/** Stage results for a plan: stages before `failAt` succeeded, `failAt` failed, later ones not started. */
function resultsFailingAt(
  plan: Plan,
  failAt: number | undefined,
  over: (s: PlanStep) => Partial<StepResult> = () => ({}),
): StageResult[] {
  return plan.stages.map((s) => {
    const status =
      failAt === undefined || s.index < failAt ? "succeeded" : s.index === failAt ? "failed" : "notStarted";
    return {
      index: s.index,
      stage: s.stage,
      status,
      steps:
        status === "notStarted"
          ? []
          : s.steps.map((st) => ({
              stepId: st.stepId,
              write: "applied" as const,
              snapshot: goodSnapshot(st),
              ...over(st),
            })),
      ...(status === "failed"
        ? {
            failure: {
              reason: "ProbeDeadlineExceeded",
              message: `Stage ${s.index} never served the new certificate.`,
            },
          }
        : {}),
    };
  });
}

test("rollback undoes applied stages in reverse order and skips stages never started", () => {
  const plan = thePlan();
  const rb = planRollback(plan, resultsFailingAt(plan, 2));
  assert.deepEqual(
    rb.stages.map((s) => [s.index, s.stage]),
    [
      [2, "apim"],
      [1, "kubernetes"],
    ],
  );
  assert.deepEqual(rb.unrestorable, []);
});

test("a Kubernetes Secret goes back to its previous vault version, guarded by our resourceVersion", () => {
  const plan = thePlan();
  const rb = planRollback(plan, resultsFailingAt(plan, 1));
  const a = rb.stages[0]?.actions[0];
  assert.ok(a?.kind === "kubernetesSecret");
  assert.deepEqual(a.restore, { from: "vaultVersion", version: "1111" });
  assert.equal(a.expectedResourceVersion, "42");
  assert.deepEqual(a.restartDeployments, ["backend"]);
  assert.deepEqual(a.probes, [{ hostName: "backend.contoso.test", expect: "serves", thumbprint: THUMB_OLD }]);
});

const k8sRestoreCases: { name: string; snap: StepSnapshot; restore?: object; unrestorable?: RegExp }[] = [
  {
    name: "a backup Secret is preferred over re-reading the vault",
    snap: {
      kind: "kubernetesSecret",
      existed: true,
      previousVersion: "1111",
      backupSecretName: "api-tls-backup",
    },
    restore: { from: "backupSecret", secretName: "api-tls-backup" },
  },
  {
    name: "a Secret that did not exist before is deleted on rollback",
    snap: { kind: "kubernetesSecret", existed: false },
    restore: { from: "delete" },
  },
  {
    name: "a Secret whose previous content came from nowhere known cannot be restored",
    snap: { kind: "kubernetesSecret", existed: true, previousThumbprint: THUMB_OLD },
    unrestorable: /no known vault version and no backup/,
  },
];
for (const c of k8sRestoreCases) {
  test(c.name, () => {
    const plan = thePlan();
    const rb = planRollback(
      plan,
      resultsFailingAt(plan, 1, () => ({ snapshot: c.snap })),
    );
    if (c.restore) {
      const a = rb.stages[0]?.actions[0];
      assert.ok(a?.kind === "kubernetesSecret");
      assert.deepEqual(a.restore, c.restore);
    } else {
      assert.equal(rb.stages.length, 0);
      assert.match(rb.unrestorable[0]?.message ?? "", c.unrestorable!);
      assert.equal(rb.unrestorable[0]?.reason, "PreviousVersionUnknown");
    }
  });
}

test("APIM goes back in one update with every hostname and certificate on its previous secret id", () => {
  const plan = thePlan();
  const rb = planRollback(plan, resultsFailingAt(plan, 2));
  const a = rb.stages[0]?.actions[0];
  assert.ok(a?.kind === "apimService");
  assert.deepEqual(a.hostnames, [{ type: "Proxy", hostName: "gw.contoso.test", keyVaultId: OLD_KV }]);
  assert.deepEqual(a.certificates, [{ certificateId: "backend-client", secretIdentifier: OLD_KV }]);
  assert.deepEqual(a.probes, [{ hostName: "gw.contoso.test", expect: "serves", thumbprint: THUMB_OLD }]);
});

test("an APIM hostname that was not Key Vault backed cannot be restored automatically", () => {
  const plan = thePlan();
  const rb = planRollback(
    plan,
    resultsFailingAt(plan, 2, (st) =>
      st.kind === "apimService"
        ? {
            snapshot: {
              kind: "apimService",
              hostnames: [{ type: "Proxy", hostName: "gw.contoso.test" }],
              certificates: [],
            },
          }
        : {},
    ),
  );
  assert.deepEqual(
    rb.unrestorable.map((u) => u.reason),
    ["PreviousVersionUnknown"],
  );
  assert.match(rb.unrestorable[0]!.message, /hostname gw\.contoso\.test/);
});

test("Front Door domains are repointed to their previous secrets and the new secret is named for deletion", () => {
  const plan = thePlan();
  const rb = planRollback(plan, resultsFailingAt(plan, 3));
  assert.deepEqual(
    rb.stages.map((s) => s.stage),
    ["frontDoor", "apim", "kubernetes"],
  );
  const a = rb.stages[0]?.actions[0];
  assert.ok(a?.kind === "frontDoorProfile");
  assert.deepEqual(a.customDomains, [
    { name: "api-contoso-test", hostName: "api.contoso.test", secretName: "api-contoso-1111" },
  ]);
  assert.equal(a.deleteSecretName, "api-contoso-2222");
});

const VERSIONLESS = "https://kv-lab.vault.azure.net/secrets/api-contoso";
const PINNED = `${VERSIONLESS}/1111`;
const LATEST_SOURCE = `${ids.vault()}/secrets/api-contoso`;

/** A rollback of one APIM or Front Door step whose snapshot is `snapshot`. */
function rollbackOf(kind: "apimService" | "frontDoorProfile", snapshot: (st: PlanStep) => StepSnapshot) {
  const plan = thePlan();
  const rb = planRollback(
    plan,
    resultsFailingAt(plan, 3, (st) => (st.kind === kind ? { snapshot: snapshot(st) } : {})),
  );
  const action = rb.stages.flatMap((s) => s.actions).find((a) => a.kind === kind);
  return { action, unrestorable: rb.unrestorable };
}

const apimSnapshot =
  (kv: string, pinned?: string) =>
  (st: PlanStep): StepSnapshot => ({
    kind: "apimService",
    hostnames: (st.kind === "apimService" ? st.hostnames : []).map((h) => ({
      ...h,
      previousKeyVaultId: kv,
      previousThumbprint: THUMB_OLD,
      ...(pinned ? { previousPinnedKeyVaultId: pinned } : {}),
    })),
    certificates: [],
  });

const fdSnapshot =
  (latest: { version?: string } | undefined) =>
  (st: PlanStep): StepSnapshot => ({
    kind: "frontDoorProfile",
    customDomains: (st.kind === "frontDoorProfile" ? st.customDomains : []).map((d) => ({
      ...d,
      previousThumbprint: THUMB_OLD,
      ...(latest
        ? {
            previousFollowsLatest: true,
            previousSecretSourceId: LATEST_SOURCE,
            ...(latest.version ? { previousVersion: latest.version } : {}),
          }
        : { previousVersion: "1111" }),
    })),
    createdSecretName: st.kind === "frontDoorProfile" ? st.newSecretName : "",
  });

const pinCases: {
  name: string;
  kind: "apimService" | "frontDoorProfile";
  snapshot: (st: PlanStep) => StepSnapshot;
  restoredTo?: string;
  pinnedNotice?: RegExp;
  unrestorable?: RegExp;
}[] = [
  {
    name: "a pinned APIM keyVaultId goes back as it was, with nothing to say",
    kind: "apimService",
    snapshot: apimSnapshot(OLD_KV),
    restoredTo: OLD_KV,
  },
  {
    name: "a versionless APIM keyVaultId goes back pinned to the version it served, and the report says how to unpin",
    kind: "apimService",
    snapshot: apimSnapshot(VERSIONLESS, PINNED),
    restoredTo: PINNED,
    pinnedNotice: new RegExp(
      `gw\\.contoso\\.test was pinned to ${PINNED}.*set it back to ${VERSIONLESS}\\.$`,
    ),
  },
  {
    name: "a versionless APIM keyVaultId whose served version is unknown is not restored (it would serve the rejected one)",
    kind: "apimService",
    snapshot: apimSnapshot(VERSIONLESS),
    unrestorable: /versionless Key Vault reference.*would serve the version being rolled back/,
  },
  {
    name: "a Front Door domain on a pinned secret goes back to that secret",
    kind: "frontDoorProfile",
    snapshot: fdSnapshot(undefined),
    restoredTo: "api-contoso-1111",
  },
  {
    name: "a Front Door domain on a 'Latest' secret goes to a new secret pinned to the version it served",
    kind: "frontDoorProfile",
    snapshot: fdSnapshot({ version: "0999" }),
    restoredTo: "api-contoso-0999",
    pinnedNotice:
      /api-contoso-test was pinned to secret api-contoso-0999 \(version 0999\).*point the domain at api-contoso-1111 again/,
  },
  {
    name: "a Front Door domain on a 'Latest' secret whose served version is unknown is not restored",
    kind: "frontDoorProfile",
    snapshot: fdSnapshot({}),
    unrestorable: /'Latest' secret.*would serve the version being rolled back/,
  },
];

for (const c of pinCases) {
  test(c.name, () => {
    const { action, unrestorable } = rollbackOf(c.kind, c.snapshot);
    if (c.unrestorable) {
      assert.equal(action, undefined);
      assert.match(unrestorable.map((u) => u.message).join("\n"), c.unrestorable);
      return;
    }
    assert.ok(action && action.kind !== "kubernetesSecret");
    const restored =
      action.kind === "apimService" ? action.hostnames[0]?.keyVaultId : action.customDomains[0]?.secretName;
    assert.equal(restored, c.restoredTo);
    if (action.kind === "frontDoorProfile" && c.pinnedNotice)
      assert.deepEqual(action.customDomains[0]?.pin, { secretSourceId: LATEST_SOURCE, version: "0999" });
    if (c.pinnedNotice) assert.match((action.notices ?? []).join("\n"), c.pinnedNotice);
    else assert.equal(action.notices, undefined);
  });
}

test("a step that wrote nothing is not rolled back; a write of unknown outcome is", () => {
  const plan = thePlan();
  const k8s = planSteps(plan)[0]!;
  const rb = planRollback(
    plan,
    resultsFailingAt(plan, 2, (st) =>
      st.stepId === k8s.stepId ? { write: "notApplied" } : { write: "unknown" },
    ),
  );
  assert.deepEqual(
    rb.stages.map((s) => s.stage),
    ["apim"],
  );
});

test("an applied step without a snapshot is unrestorable", () => {
  const plan = thePlan();
  const rb = planRollback(
    plan,
    resultsFailingAt(plan, 1, () => ({ snapshot: undefined })),
  );
  assert.deepEqual(
    rb.unrestorable.map((u) => u.reason),
    ["NoSnapshot"],
  );
});

test("a rollback plan survives JSON", () => {
  const plan = thePlan();
  const rb = planRollback(plan, resultsFailingAt(plan, 3));
  assert.deepEqual(JSON.parse(JSON.stringify(rb)), rb);
});

// -----------------------------------------------------------------------------------------------
// finalState

const plan = thePlan();
const allVerified = (failAt: number) => ({
  actions: planRollback(plan, resultsFailingAt(plan, failAt)).stages.flatMap((s) =>
    s.actions.map((a) => ({ stepId: a.stepId, verified: true })),
  ),
  unrestorable: [],
});

const outcomeCases: {
  name: string;
  input: OutcomeInput;
  state: FinalState;
  reason: string;
  message?: RegExp;
}[] = [
  {
    name: "every stage verified is Succeeded",
    input: {
      preflight: { verdict: "Proceed", failures: [], notices: [] },
      stages: resultsFailingAt(plan, undefined),
    },
    state: "Succeeded",
    reason: "AllTargetsVerified",
    message: /All 3 stage\(s\) and 3 target\(s\)/,
  },
  {
    name: "a preflight failure is Rejected with the first reason and every message",
    input: {
      preflight: {
        verdict: "Rejected",
        failures: [
          { reason: "SanMismatch", message: "The certificate does not cover gw.contoso.test." },
          { reason: "KeyTooWeak", message: "The RSA key has 1024 bits." },
        ],
        notices: [],
      },
    },
    state: "Rejected",
    reason: "SanMismatch",
    message: /nothing was changed.*SanMismatch.*KeyTooWeak/,
  },
  {
    name: "a certificate already everywhere is Succeeded as AlreadyDeployed",
    input: {
      preflight: {
        verdict: "AlreadyDeployed",
        failures: [],
        notices: [{ reason: "AlreadyDeployed", message: "Every binding already has it." }],
      },
    },
    state: "Succeeded",
    reason: "AlreadyDeployed",
  },
  {
    name: "a dry run that passed preflight is Succeeded and says nothing changed",
    input: { dryRun: true, preflight: { verdict: "Proceed", failures: [], notices: [] } },
    state: "Succeeded",
    reason: "DryRun",
    message: /nothing was changed/,
  },
  {
    name: "a dry run that would renew is Succeeded as DryRun and says what it would renew",
    input: {
      dryRun: true,
      newVersion: {
        status: "wouldRenew",
        message: "Dry run: would renew kv-lab/api-contoso (current version v1).",
      },
    },
    state: "Succeeded",
    reason: "DryRun",
    message: /would renew kv-lab\/api-contoso/,
  },
  {
    name: "a certificate without bindings is Succeeded with nothing to do",
    input: { planError: { reason: "NoBindings", message: "No target is bound to kv-lab/api-contoso." } },
    state: "Succeeded",
    reason: "NoBindings",
  },
  {
    name: "a plan that cannot be made for configuration reasons needs attention",
    input: { planError: { reason: "VaultResourceIdRequired", message: "Front Door needs the ARM id." } },
    state: "NeedsAttention",
    reason: "VaultResourceIdRequired",
  },
  {
    name: "an external issuer that never delivered needs attention",
    input: { newVersion: { status: "notIssued", message: "No new version appeared within 24 hours." } },
    state: "NeedsAttention",
    reason: "NewVersionNotIssued",
  },
  {
    name: "a probe failure with a verified rollback is RolledBack with the stage's reason",
    input: { stages: resultsFailingAt(plan, 2), rollback: allVerified(2) },
    state: "RolledBack",
    reason: "ProbeDeadlineExceeded",
    message: /Stage 2 never served.*2 target\(s\) are verified back/,
  },
  {
    name: "a rollback that could not be verified needs attention",
    input: {
      stages: resultsFailingAt(plan, 2),
      rollback: {
        actions: allVerified(2).actions.map((a, i) =>
          i === 0
            ? {
                ...a,
                verified: false,
                failure: {
                  reason: "ProbeDeadlineExceeded",
                  message: "gw.contoso.test still serves the new certificate",
                },
              }
            : a,
        ),
        unrestorable: [],
      },
    },
    state: "NeedsAttention",
    reason: "RollbackUnverified",
    message: /still serves the new certificate/,
  },
  {
    name: "an unrestorable target needs attention even if the rest rolled back",
    input: {
      stages: resultsFailingAt(plan, 2),
      rollback: {
        actions: allVerified(2).actions,
        unrestorable: [
          { stepId: "kubernetes:x", reason: "NoSnapshot", message: "No snapshot was recorded." },
        ],
      },
    },
    state: "NeedsAttention",
    reason: "RollbackIncomplete",
  },
  {
    name: "a failed stage after writes with no rollback run needs attention",
    input: { stages: resultsFailingAt(plan, 1) },
    state: "NeedsAttention",
    reason: "RollbackNotRun",
  },
  {
    name: "a first stage that failed before writing anything is RolledBack with nothing to undo",
    input: {
      stages: resultsFailingAt(plan, 1, () => ({
        write: "notApplied",
        failure: { reason: "Conflict", message: "The Secret kept changing." },
      })),
    },
    state: "RolledBack",
    reason: "ProbeDeadlineExceeded",
    message: /Nothing had been applied/,
  },
  {
    name: "a cancel before any write is Cancelled",
    input: { cancelled: true, preflight: { verdict: "Proceed", failures: [], notices: [] }, stages: [] },
    state: "Cancelled",
    reason: "Cancelled",
    message: /before anything was changed/,
  },
  {
    name: "a cancel after writes, rolled back and verified, is Cancelled",
    input: {
      cancelled: true,
      stages: resultsFailingAt(plan, undefined).map((s) =>
        s.index === 3 ? { ...s, status: "cancelled" as const } : s,
      ),
      rollback: allVerified(3),
    },
    state: "Cancelled",
    reason: "Cancelled",
    message: /verified back/,
  },
  {
    name: "a cancel whose rollback was not verified needs attention",
    input: {
      cancelled: true,
      stages: resultsFailingAt(plan, undefined),
      rollback: { actions: [{ stepId: "s", verified: false }], unrestorable: [] },
    },
    state: "NeedsAttention",
    reason: "RollbackUnverified",
  },
  {
    name: "stages left unapplied without a failure need attention",
    input: {
      stages: resultsFailingAt(plan, undefined).map((s) =>
        s.index === 3 ? { ...s, status: "notStarted" as const, steps: [] } : s,
      ),
    },
    state: "NeedsAttention",
    reason: "IncompleteRollout",
  },
];

for (const c of outcomeCases) {
  test(c.name, () => {
    const out = finalState(c.input);
    assert.equal(out.state, c.state, out.message);
    assert.equal(out.reason, c.reason);
    if (c.message) assert.match(out.message, c.message);
  });
}

test("rollback probes go to the same addresses as the rollout's probes", () => {
  const at = { source: "discovered" as const, addresses: [{ address: "10.240.0.7", port: 443 }] };
  const r = buildPlan({
    policy: aStagePolicy(),
    certificate: { ...CERT, vaultUrl: "https://kv-lab.vault.azure.net", version: "2222" },
    bindings: [aKubernetesBinding({ discoveredAddresses: at.addresses })],
  });
  assert.ok(r.ok);
  const rb = planRollback(r.plan, resultsFailingAt(r.plan, 1));
  assert.deepEqual(rb.stages[0]?.actions[0]?.probes, [
    { hostName: "backend.contoso.test", expect: "serves", connectTo: at, thumbprint: THUMB_OLD },
  ]);
});
