/**
 * The failure side against the lab: preflight rejections, busy APIM, Kubernetes conflicts, 429 with
 * Retry-After, rollback to the previous version, leases, and the audit row and outcome event.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CertificateClient } from "@azure/keyvault-certificates";
import { DefaultAzureCredential } from "@azure/identity";
import { acquireLockHandler } from "../../../src/activities/acquireLock.js";
import { applyKubernetesSecretHandler } from "../../../src/activities/applyKubernetesSecret.js";
import { preflightCertificateHandler } from "../../../src/activities/preflightCertificate.js";
import { probeEndpointsHandler } from "../../../src/activities/probeEndpoints.js";
import { publishOutcomeHandler } from "../../../src/activities/publishOutcome.js";
import { readApimServiceHandler } from "../../../src/activities/readApimService.js";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import { recordAuditHandler } from "../../../src/activities/recordAudit.js";
import { reportOf } from "../../../src/azure/auditTable.js";
import { releaseLockHandler } from "../../../src/activities/releaseLock.js";
import { resolveBindingsHandler } from "../../../src/activities/resolveBindings.js";
import { rollbackTargetHandler } from "../../../src/activities/rollbackTarget.js";
import type { ReadCertificateOutput } from "../../../src/activities/contracts.js";
import { createComposition, useComposition } from "../../../src/composition.js";
import { buildPlan, type Plan } from "../../../src/domain/plan.js";
import { planRollback } from "../../../src/domain/rollback.js";
import type { RolloutReport } from "../../../src/domain/report.js";
import { SEED } from "../../../emulator/lab/seed.js";
import { SecretClient } from "@azure/keyvault-secrets";
import { parseSecretValue } from "../../../src/azure/keyVault.js";
import { assertNoPrivateKey } from "../../support/secretScan.js";
import { eventually, startActivityWorld, type ActivityWorld } from "./activitySupport.js";
import { clearQueue, queueAndSend } from "./apimQueueSupport.js";
import { aStagePolicy } from "../../support/policyBuilders.js";

let w: ActivityWorld;
let kv: CertificateClient;
before(async () => {
  w = await startActivityWorld({ storage: true });
  kv = new CertificateClient(w.composition.vaultUrl(SEED.vault.name)!, new DefaultAzureCredential());
});
after(async () => w?.dispose());

const vaultName = SEED.vault.name;
type Found = Extract<ReadCertificateOutput, { found: true }>;

/** A new version of `name` created with the SDK, optionally with a changed policy. */
async function newVersion(
  name: string,
  change: (p: Record<string, unknown>) => Record<string, unknown> = (p) => p,
): Promise<Found> {
  const policy = await kv.getCertificatePolicy(name);
  const poller = await kv.beginCreateCertificate(name, change({ ...policy }) as never, { intervalInMs: 50 });
  await poller.pollUntilDone();
  return (await readCertificateHandler({ vaultName, certificateName: name }, w.context())) as Found;
}

const bindingsOf = async (certificateName: string) =>
  (await resolveBindingsHandler({ certificate: { vaultName, certificateName } }, w.context())).bindings;

function planOf(
  certificateName: string,
  cert: Found,
  bindings: Awaited<ReturnType<typeof bindingsOf>>,
): Plan {
  const p = buildPlan({
    policy: aStagePolicy(),
    certificate: {
      vaultName,
      vaultUrl: cert.vaultUrl,
      certificateName,
      version: cert.version,
      thumbprint: cert.thumbprint,
      ...(cert.vaultResourceId ? { vaultResourceId: cert.vaultResourceId } : {}),
    },
    bindings,
  });
  assert.ok(p.ok);
  return p.plan;
}

test("preflight rejects a version whose SAN misses a bound host, and an EC key bound to Front Door", async () => {
  const name = SEED.certificates.edge.name;
  const bindings = await bindingsOf(name);
  const san = await newVersion(name, (p) => ({
    ...p,
    subject: "CN=other.contoso.test",
    subjectAlternativeNames: { dnsNames: ["other.contoso.test"] },
  }));
  const r1 = await preflightCertificateHandler(
    { vaultName, certificateName: name, version: san.version, bindings },
    w.context(),
  );
  assert.equal(r1.verdict, "Rejected");
  assert.deepEqual(
    r1.failures.map((f) => f.reason),
    ["SanMismatch"],
  );
  const ec = await newVersion(name, (p) => ({
    ...p,
    subject: "CN=api.contoso.test",
    subjectAlternativeNames: { dnsNames: ["api.contoso.test"] },
    keyType: "EC",
    keyCurveName: "P-256",
    keySize: undefined,
  }));
  const r2 = await preflightCertificateHandler(
    { vaultName, certificateName: name, version: ec.version, bindings },
    w.context(),
  );
  assert.equal(r2.verdict, "Rejected", JSON.stringify(r2));
  assert.ok(
    r2.failures.some((f) => f.reason === "EcKeyNotSupportedByTarget"),
    JSON.stringify(r2.failures),
  );
});

test("preflight rejects an expired version (clock injected two years ahead) and accepts it today", async () => {
  const name = SEED.certificates.apim.name;
  const bindings = await bindingsOf(name);
  const cur = (await readCertificateHandler({ vaultName, certificateName: name }, w.context())) as Found;
  const today = await preflightCertificateHandler(
    { vaultName, certificateName: name, version: cur.version, bindings },
    w.context(),
  );
  assert.equal(today.verdict, "Proceed", JSON.stringify(today.failures));
  useComposition(
    createComposition(w.composition.config, { now: () => new Date(Date.now() + 2 * 365 * 86_400_000) }),
  );
  try {
    const later = await preflightCertificateHandler(
      { vaultName, certificateName: name, version: cur.version, bindings },
      w.context(),
    );
    assert.equal(later.failures[0]?.reason, "Expired");
  } finally {
    useComposition(w.composition);
  }
});

test("an APIM update while another runs answers busy with a retry time", async () => {
  const name = SEED.certificates.apim.name;
  const next = await newVersion(name);
  const plan = planOf(name, next, await bindingsOf(name));
  const step = plan.stages[0]!.steps[0]!;
  if (step.kind !== "apimService") return assert.fail("expected an APIM step");
  const stuck = w.lab.ctx.faults.add({ service: "arm", kind: "apimStuck" });
  try {
    assert.equal((await queueAndSend(w, step, "r-busy-1")).status, "applied");
    // The first update is under way (stuck); a later change meets the service busy.
    await clearQueue(w, step.serviceId);
    const other = {
      ...step,
      keyVaultSecretId: `${plan.certificate.vaultUrl}/secrets/${name}/${"0".repeat(32)}`,
    };
    const busy = await queueAndSend(w, other, "r-busy-2");
    await clearQueue(w, step.serviceId);
    assert.equal(busy.status, "busy");
    if (busy.status === "busy") assert.ok(busy.retryAfterSeconds > 0);
  } finally {
    w.lab.ctx.faults.remove(stuck.id);
  }
  await eventually(
    async () =>
      (await readApimServiceHandler({ serviceId: step.serviceId }, w.context())).provisioningState ===
      "Succeeded",
  );
});

test("a 429 with Retry-After is retried by the SDK and the read succeeds", async () => {
  const rule = w.lab.ctx.faults.add({
    service: "arm",
    kind: "status",
    status: 429,
    retryAfterSeconds: 1,
    code: "TooManyRequests",
    count: 1,
    match: "GET",
  });
  const started = Date.now();
  const r = await readApimServiceHandler(
    { serviceId: w.composition.config.discovery.apimScopes[0]!.id },
    w.context(),
  );
  assert.equal(r.provisioningState.length > 0, true);
  assert.ok(rule.id && Date.now() - started >= 900, "the SDK waited for Retry-After");
  assert.equal(
    w.lab.ctx.faults.list().some((f) => f.id === rule.id),
    false,
    "the fault was hit",
  );
});

test("a Kubernetes conflict answers busy; the retry applies; rollback restores the previous certificate", async () => {
  const name = SEED.certificates.ingress.name;
  const before = (await readCertificateHandler({ vaultName, certificateName: name }, w.context())) as Found;
  const next = await newVersion(name);
  const plan = planOf(name, next, await bindingsOf(name));
  const step = plan.stages[0]!.steps[0]!;
  if (step.kind !== "kubernetesSecret") return assert.fail("expected a Secret step");
  const input = { step, certificate: plan.certificate, rotationId: "r-k8s-1", restartDeployments: false };
  w.lab.ctx.faults.add({
    service: "kubernetes",
    kind: "conflict",
    count: 1,
    match: `secrets ${step.namespace}/${step.secretName}$`,
  });
  const first = await applyKubernetesSecretHandler(input, w.context());
  assert.equal(first.status, "busy", JSON.stringify(first));
  if (first.status === "busy") assert.equal(first.retryAfterSource, "default", "Kubernetes names no wait");
  const second = await applyKubernetesSecretHandler(input, w.context());
  assert.equal(second.status, "applied", JSON.stringify(second));
  if (second.status !== "applied") return;
  await eventually(
    async () =>
      (
        await probeEndpointsHandler(
          { stage: "kubernetes", probes: step.probes, expectThumbprint: next.thumbprint },
          w.context(),
        )
      ).ok,
  );
  const rb = planRollback(plan, [
    {
      index: 1,
      stage: "kubernetes",
      status: "failed",
      steps: [{ stepId: step.stepId, write: "applied", snapshot: second.snapshot }],
    },
  ]);
  assert.deepEqual(rb.unrestorable, []);
  const action = rb.stages[0]!.actions[0]!;
  if (action.kind === "apimService") return assert.fail("expected a Secret or Front Door action");
  const out = await rollbackTargetHandler(
    { action, rotationId: "r-k8s-1", restartDeployments: true },
    w.context(),
  );
  assert.equal(out.status, "applied", JSON.stringify(out));
  await eventually(
    async () =>
      (
        await probeEndpointsHandler(
          { stage: "kubernetes", probes: step.probes, expectThumbprint: before.thumbprint },
          w.context(),
        )
      ).ok,
  );
  // The key written into the Secret appears in no activity output and no log line.
  const secret = await new SecretClient(plan.certificate.vaultUrl, new DefaultAzureCredential()).getSecret(
    name,
    {
      version: next.version,
    },
  );
  const key = parseSecretValue(secret.value!, secret.properties.contentType).key!;
  assertNoPrivateKey(
    JSON.stringify([first, second, rb, out]) + w.logs.join("\n"),
    key,
    "activity outputs and logs",
  );
});

test("leases exclude each other, expire, and are released only by their owner", async () => {
  const key = w.composition.config.discovery.apimScopes[0]!.id;
  assert.deepEqual(await acquireLockHandler({ resourceKey: key, owner: "a", leaseSeconds: 1 }, w.context()), {
    acquired: true,
  });
  const b = await acquireLockHandler(
    { resourceKey: key.toUpperCase(), owner: "b", leaseSeconds: 30 },
    w.context(),
  );
  assert.equal(b.acquired, false);
  if (!b.acquired) assert.equal(b.heldBy, "a");
  assert.deepEqual(await releaseLockHandler({ resourceKey: key, owner: "b" }, w.context()), {
    released: false,
  });
  await eventually(
    async () =>
      (await acquireLockHandler({ resourceKey: key, owner: "b", leaseSeconds: 30 }, w.context())).acquired,
    5_000,
    200,
  );
  assert.deepEqual(await releaseLockHandler({ resourceKey: key, owner: "b" }, w.context()), {
    released: true,
  });
  assert.deepEqual(
    await acquireLockHandler({ resourceKey: key, owner: "c", leaseSeconds: 30 }, w.context()),
    { acquired: true },
  );
});

test("the audit row and the outcome event are recorded", async () => {
  const report: RolloutReport = {
    instanceId: "rotate:kv-contoso:edge-contoso",
    certificate: { vaultName, certificateName: "edge-contoso" },
    trigger: { kind: "manual", detail: "test" },
    dryRun: false,
    versions: { next: { version: "v2", thumbprint: "AB".repeat(20) } },
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    outcome: { state: "Succeeded", reason: "AllTargetsVerified", message: "done" },
    stages: [],
  };
  const a1 = await recordAuditHandler({ report }, w.context());
  const a2 = await recordAuditHandler({ report }, w.context());
  assert.deepEqual(a1, a2);
  const table = await w.composition.auditTable();
  const row = await table.getEntity(a1.partitionKey, a1.rowKey);
  assert.equal(row.state, "Succeeded");
  assert.deepEqual(reportOf(row as Record<string, unknown>), report);
  const sent = await publishOutcomeHandler({ report }, w.context());
  assert.equal(sent.published, true, JSON.stringify(sent));
  assert.equal(sent.type, "E2ECertRotation.Rollout.Succeeded");
  const topic = new URL(w.composition.config.outcomeTopic.endpoint).hostname.split(".")[0];
  const events = await w.lab.control("GET", `/lab/eventgrid/topics/${topic}/events`);
  const found = JSON.stringify(events.body);
  assert.ok(
    found.includes(sent.eventId) && found.includes("E2ECertRotation.Rollout.Succeeded"),
    found.slice(0, 500),
  );
});
