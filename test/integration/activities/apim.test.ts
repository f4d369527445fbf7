/**
 * The APIM update queue through the real SDKs against the lab (Azurite for the queue, the leases and
 * the snapshots): the changes of two rollouts go in ONE update sent by the lease holder, each with its
 * own snapshot of the state before; a rerun of the same update resends nothing; a conflict part-way
 * answers busy and the rerun finishes with the first snapshot; a refused update of several changes
 * queues each again to go alone; a change naming a hostname the service lacks fails alone; a pending
 * change can be withdrawn, a claimed one cannot.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { DefaultAzureCredential } from "@azure/identity";
import { CertificateClient } from "@azure/keyvault-certificates";
import { STREAMED } from "../../../emulator/lab/core/http.js";
import { queueApimChangeHandler } from "../../../src/activities/queueApimChange.js";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import { releaseLockHandler } from "../../../src/activities/releaseLock.js";
import { resolveBindingsHandler } from "../../../src/activities/resolveBindings.js";
import { ABANDONED_AFTER_MS, sendApimUpdateHandler } from "../../../src/activities/sendApimUpdate.js";
import { settleApimUpdateHandler } from "../../../src/activities/settleApimUpdate.js";
import { takeApimTurnHandler } from "../../../src/activities/takeApimTurn.js";
import type { ReadCertificateOutput } from "../../../src/activities/contracts.js";
import { apimServiceId } from "../../../src/azure/apim.js";
import { createComposition, useComposition } from "../../../src/composition.js";
import { readSnapshot } from "../../../src/azure/snapshots.js";
import { resetDiscoveryCache } from "../../../src/discovery.js";
import { applyChange } from "../../../src/domain/apimBatch.js";
import { buildPlan, type ApimServiceStep } from "../../../src/domain/plan.js";
import { planRollback, type ApimServiceSnapshot } from "../../../src/domain/rollback.js";
import { SEED, apimServiceId as seededServiceId } from "../../../emulator/lab/seed.js";
import { eventually, startActivityWorld, type ActivityWorld } from "./activitySupport.js";
import { clearQueue } from "./apimQueueSupport.js";
import { aStagePolicy } from "../../support/policyBuilders.js";

type Found = Extract<ReadCertificateOutput, { found: true }>;

let w: ActivityWorld;
/** ARM writes to the APIM service resource itself (infrastructure updates), counted at the lab. */
let serviceWrites: string[] = [];
before(async () => {
  w = await startActivityWorld({ storage: true });
  w.lab.ctx.servers.arm.router.use(async (req, next) => {
    const res = await next();
    if (
      res !== STREAMED &&
      /^(PATCH|PUT)$/.test(req.method) &&
      /\/providers\/Microsoft\.ApiManagement\/service\/[^/]+$/i.test(req.path)
    )
      serviceWrites.push(`${req.method} ${res.status}`);
    return res;
  });
});
after(async () => w?.dispose());
beforeEach(async () => {
  serviceWrites = [];
  await clearQueue(w, seededServiceId());
});

const vaultName = SEED.vault.name;
const serviceId = seededServiceId();

/** A new version of `certificateName`, created through the SDK. */
async function newVersion(certificateName: string): Promise<void> {
  const kv = new CertificateClient(w.composition.vaultUrl(vaultName)!, new DefaultAzureCredential());
  const policy = await kv.getCertificatePolicy(certificateName);
  const poller = await kv.beginCreateCertificate(certificateName, policy, { intervalInMs: 50 });
  await poller.pollUntilDone();
}

/** The APIM step for the current version of `certificateName`. */
async function stepFor(certificateName: string): Promise<ApimServiceStep> {
  resetDiscoveryCache();
  const cert = (await readCertificateHandler({ vaultName, certificateName }, w.context())) as Found;
  const { bindings } = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName } },
    w.context(),
  );
  const built = buildPlan({
    policy: aStagePolicy(),
    certificate: { vaultName, vaultUrl: cert.vaultUrl, certificateName, version: cert.version },
    bindings,
  });
  assert.ok(built.ok, JSON.stringify(built));
  const step = built.plan.stages.flatMap((s) => s.steps).find((s) => s.kind === "apimService");
  if (step?.kind !== "apimService") throw new Error("expected an APIM step");
  return step;
}

const queue = (step: ApimServiceStep, rotationId: string) =>
  queueApimChangeHandler({ serviceId: step.serviceId, change: applyChange(rotationId, step) }, w.context());
const turn = (rotationId: string, step: ApimServiceStep, owner: string, withdraw = false) =>
  takeApimTurnHandler(
    {
      serviceId: step.serviceId,
      requestId: applyChange(rotationId, step).requestId,
      owner,
      leaseSeconds: 60,
      withdraw,
    },
    w.context(),
  );
const send = (updateId: string) => sendApimUpdateHandler({ serviceId, updateId }, w.context());
const settle = (updateId: string, outcome: Parameters<typeof settleApimUpdateHandler>[0]["outcome"]) =>
  settleApimUpdateHandler({ serviceId, updateId, outcome }, w.context());
const release = (owner: string) => releaseLockHandler({ resourceKey: serviceId, owner }, w.context());

const settled = (serviceId: string) =>
  eventually(async () => {
    const id = apimServiceId(serviceId);
    const s = await w.composition
      .apimClient(id.subscriptionId)
      .apiManagementService.get(id.resourceGroup, id.name);
    return s.provisioningState === "Succeeded";
  });

test("two rollouts' changes go in one update sent by the lease holder, each with its own snapshot", async () => {
  await newVersion(SEED.certificates.apim.name);
  await newVersion(SEED.certificates.client.name);
  const gateway = await stepFor(SEED.certificates.apim.name);
  const client = await stepFor(SEED.certificates.client.name);
  assert.ok(gateway.hostnames.length > 0 && client.certificates.length > 0);
  await queue(gateway, "q-a");
  await queue(client, "q-b");
  assert.deepEqual(await turn("q-a", gateway, "A"), { turn: "lead" });
  const waiting = await turn("q-b", client, "B");
  assert.equal(waiting.turn, "wait", JSON.stringify(waiting));
  if (waiting.turn === "wait") assert.equal(waiting.heldBy, "A");

  const sent = await send("A#1");
  assert.equal(sent.status, "applied", JSON.stringify(sent));
  if (sent.status !== "applied") return;
  assert.deepEqual(
    sent.requestIds.sort(),
    [applyChange("q-a", gateway).requestId, applyChange("q-b", client).requestId].sort(),
  );
  assert.equal(serviceWrites.length, 1, `one infrastructure update: ${serviceWrites.join(", ")}`);
  // Durable runs the activity again (say the worker died before the result was recorded).
  const rerun = await send("A#1");
  assert.equal(rerun.status, "applied", JSON.stringify(rerun));
  if (rerun.status === "applied") assert.deepEqual(rerun.requestIds.sort(), sent.requestIds.sort());
  assert.equal(serviceWrites.length, 1, "the rerun sent nothing more");

  await settled(serviceId);
  assert.deepEqual(await settle("A#1", { status: "done" }), { settled: 2 });
  await release("A");
  const a = await turn("q-a", gateway, "A");
  const b = await turn("q-b", client, "B");
  assert.equal(a.turn, "done", JSON.stringify(a));
  assert.equal(b.turn, "done", JSON.stringify(b));
  if (a.turn !== "done" || b.turn !== "done") return;
  assert.ok(
    a.snapshot?.hostnames.length && a.snapshot.hostnames.every((h) => h.previousKeyVaultId),
    JSON.stringify(a.snapshot),
  );
  assert.ok(
    b.snapshot?.certificates.length && b.snapshot.certificates.every((c) => c.previousSecretIdentifier),
    JSON.stringify(b.snapshot),
  );
  assert.notEqual(a.snapshot.hostnames[0]?.previousKeyVaultId, gateway.keyVaultSecretId);
  const plan = {
    certificate: { vaultName, vaultUrl: "", certificateName: "", version: "", secretId: "" },
    stages: [
      {
        index: 1,
        stage: "apim" as const,
        steps: [gateway],
        probeDeadlineSeconds: 1,
        probeIntervalSeconds: 1,
      },
    ],
    bindingIds: [],
    dryRun: false,
  };
  assert.deepEqual(
    planRollback(plan, [
      {
        index: 1,
        stage: "apim",
        status: "failed",
        steps: [{ stepId: gateway.stepId, write: "applied", snapshot: a.snapshot }],
      },
    ]).unrestorable,
    [],
    "the snapshot can be rolled back",
  );
});

test("a conflict after one certificate entity moved answers busy; the rerun finishes with the first snapshot", async () => {
  // A second certificate entity for the client certificate, like the seeded one.
  const seededStep = await stepFor(SEED.certificates.client.name);
  const id = apimServiceId(seededStep.serviceId);
  const apim = w.composition.apimClient(id.subscriptionId);
  const seeded = await apim.certificate.get(
    id.resourceGroup,
    id.name,
    seededStep.certificates[0]!.certificateId,
  );
  await apim.certificate.createOrUpdate(id.resourceGroup, id.name, "apim-client-2", {
    keyVault: { secretIdentifier: seeded.keyVault!.secretIdentifier! },
  });
  await newVersion(SEED.certificates.client.name);
  const step = await stepFor(SEED.certificates.client.name);
  assert.equal(step.certificates.length, 2, JSON.stringify(step.certificates));
  const previous = seeded.keyVault!.secretIdentifier!;

  const second = step.certificates[1]!.certificateId;
  const rule = w.lab.ctx.faults.add({
    service: "arm",
    kind: "status",
    status: 409,
    code: "Conflict",
    count: 1,
    match: `^PUT .*/certificates/${second}$`,
  });
  await queue(step, "q-partial");
  const first = await send("P#1");
  assert.equal(
    w.lab.ctx.faults.list().some((f) => f.id === rule.id),
    false,
    "the fault was hit",
  );
  assert.equal(first.status, "busy", JSON.stringify(first));
  const moved = await apim.certificate.get(id.resourceGroup, id.name, step.certificates[0]!.certificateId);
  assert.equal(moved.keyVault?.secretIdentifier, step.keyVaultSecretId, "the first entity moved");

  const rerun = await send("P#1");
  assert.equal(rerun.status, "applied", JSON.stringify(rerun));
  const kept = await readSnapshot<ApimServiceSnapshot>(w.composition, "q-partial", step.stepId);
  assert.deepEqual(
    kept?.certificates.map((c) => c.previousSecretIdentifier),
    [previous, previous],
    "the snapshot is the state before the first attempt",
  );
  await settle("P#1", { status: "done" });
});

test("a refused update of several changes queues each again to go alone", async () => {
  await newVersion(SEED.certificates.apim.name);
  await newVersion(SEED.certificates.client.name);
  const gateway = await stepFor(SEED.certificates.apim.name);
  const client = await stepFor(SEED.certificates.client.name);
  await queue(gateway, "q-r1");
  await queue(client, "q-r2");
  const rule = w.lab.ctx.faults.add({
    service: "arm",
    kind: "status",
    status: 400,
    code: "InvalidParameters",
    count: 1,
    match: "^PATCH .*/service/[^/]+$",
  });
  const refused = await send("R#1");
  assert.equal(
    w.lab.ctx.faults.list().some((f) => f.id === rule.id),
    false,
    "the fault was hit",
  );
  assert.equal(refused.status, "failed", JSON.stringify(refused));
  if (refused.status === "failed") assert.equal(refused.requestIds.length, 2);
  // Neither failed: each goes again, alone.
  const a = await turn("q-r1", gateway, "R", false);
  assert.equal(a.turn, "lead", JSON.stringify(a));
  const alone = await send("R#2");
  assert.equal(alone.status, "applied", JSON.stringify(alone));
  if (alone.status === "applied")
    assert.deepEqual(alone.requestIds, [applyChange("q-r1", gateway).requestId]);
  await settled(serviceId);
  await settle("R#2", { status: "done" });
  const next = await send("R#3");
  assert.equal(next.status, "applied", JSON.stringify(next));
  if (next.status === "applied") assert.deepEqual(next.requestIds, [applyChange("q-r2", client).requestId]);
  await settled(serviceId);
  // An update of one change that ends Failed fails that change.
  assert.deepEqual(
    await settle("R#3", {
      status: "failed",
      reason: "ProvisioningFailed",
      message: "Failed.",
      isolate: true,
    }),
    { settled: 1 },
  );
  await release("R");
  const b = await turn("q-r2", client, "R");
  assert.equal(b.turn, "failed", JSON.stringify(b));
  if (b.turn === "failed") {
    assert.equal(b.reason, "ProvisioningFailed");
    assert.equal(b.attemptedWrite, true);
    assert.ok(b.snapshot?.certificates.length, "a failed write that may have landed carries its snapshot");
  }
});

test("a change naming a hostname the service lacks fails alone; the others go", async () => {
  await newVersion(SEED.certificates.apim.name);
  const gateway = await stepFor(SEED.certificates.apim.name);
  const bogus: ApimServiceStep = {
    ...gateway,
    stepId: `${gateway.stepId}-bogus`,
    hostnames: [{ type: "Proxy", hostName: "nowhere.contoso.test" }],
    certificates: [],
  };
  await queue(bogus, "q-h1");
  await queue(gateway, "q-h2");
  const sent = await send("H#1");
  assert.equal(sent.status, "applied", JSON.stringify(sent));
  if (sent.status === "applied") assert.deepEqual(sent.requestIds, [applyChange("q-h2", gateway).requestId]);
  const lost = await turn("q-h1", bogus, "H");
  assert.equal(lost.turn, "failed", JSON.stringify(lost));
  if (lost.turn === "failed") {
    assert.equal(lost.reason, "HostnameNotFound");
    assert.equal(lost.attemptedWrite, false);
  }
  await release("H");
  await settled(serviceId);
  await settle("H#1", { status: "done" });
});

test("a pending change can be withdrawn; a claimed one stays until its update settles", async () => {
  await newVersion(SEED.certificates.apim.name);
  const gateway = await stepFor(SEED.certificates.apim.name);
  await queue(gateway, "q-w1");
  assert.deepEqual(await turn("q-w1", gateway, "W", true), { turn: "withdrawn", attemptedWrite: false });
  assert.deepEqual(await send("W#1"), { status: "empty" }, "a withdrawn change is never sent");
  assert.equal(serviceWrites.length, 0);

  await queue(gateway, "q-w2");
  const sent = await send("W#2");
  assert.equal(sent.status, "applied", JSON.stringify(sent));
  const claimed = await turn("q-w2", gateway, "W", true);
  assert.equal(claimed.turn, "lead", "a claimed change is not withdrawn");
  await settled(serviceId);
  await settle("W#2", { status: "abandoned" });
  // Abandoned: queued again, and now it may have landed.
  const back = await turn("q-w2", gateway, "W", true);
  assert.equal(back.turn, "withdrawn", JSON.stringify(back));
  if (back.turn === "withdrawn") {
    assert.equal(back.attemptedWrite, true);
    assert.ok(
      back.snapshot?.hostnames.every((h) => h.previousKeyVaultId),
      "rolled back from its snapshot",
    );
  }
  await release("W");
});

test("a change left pending past its rollout's wait deadline expires instead of being sent", async () => {
  await newVersion(SEED.certificates.apim.name);
  const gateway = await stepFor(SEED.certificates.apim.name);
  const at = (ms: number) => new Date(Date.now() + ms);
  // Its rollout would have withdrawn it in a minute; a live one (due tomorrow) stays.
  const gone = { ...applyChange("q-gone", gateway), withdrawBy: at(60_000).toISOString() };
  await queueApimChangeHandler({ serviceId, change: gone }, w.context());
  const sendAt = async (ms: number, updateId: string) => {
    useComposition(createComposition(w.composition.config, { now: () => at(ms) }));
    try {
      return await send(updateId);
    } finally {
      useComposition(w.composition);
    }
  };
  // Not yet two hours past its deadline: still sent.
  const due = await sendAt(ABANDONED_AFTER_MS, "G#0");
  assert.equal(due.status, "applied", JSON.stringify(due));
  if (due.status === "applied") assert.deepEqual(due.requestIds, [gone.requestId]);
  await settled(serviceId);
  await clearQueue(w, serviceId);
  await queueApimChangeHandler({ serviceId, change: gone }, w.context());
  const live = { ...applyChange("q-live", gateway), withdrawBy: at(86_400_000).toISOString() };
  await queueApimChangeHandler({ serviceId, change: live }, w.context());
  serviceWrites = [];
  const sent = await sendAt(ABANDONED_AFTER_MS + 120_000, "G#1");
  assert.equal(sent.status, "applied", JSON.stringify(sent));
  if (sent.status === "applied") assert.deepEqual(sent.requestIds, [live.requestId], "only the live change");
  const expired = await turn("q-gone", gateway, "G");
  assert.equal(expired.turn, "failed", JSON.stringify(expired));
  if (expired.turn === "failed") assert.equal(expired.reason, "Abandoned");
  await release("G");
  await settled(serviceId);
  await settle("G#1", { status: "done" });
});

test("a change gone from the queue after its update was sent still rolls back from its snapshot", async () => {
  await newVersion(SEED.certificates.apim.name);
  const gateway = await stepFor(SEED.certificates.apim.name);
  await queue(gateway, "q-lost");
  const sent = await send("L#1");
  assert.equal(sent.status, "applied", JSON.stringify(sent));
  await clearQueue(w, serviceId);
  const lost = await turn("q-lost", gateway, "L");
  assert.equal(lost.turn, "failed", JSON.stringify(lost));
  if (lost.turn === "failed") {
    assert.equal(lost.reason, "ChangeNotQueued");
    assert.equal(lost.attemptedWrite, true, "its update may have landed");
    assert.ok(
      lost.snapshot?.hostnames.every((h) => h.previousKeyVaultId),
      JSON.stringify(lost.snapshot),
    );
  }
  const never = await turn("q-never", gateway, "L");
  assert.equal(never.turn, "failed");
  if (never.turn === "failed") assert.equal(never.attemptedWrite, false, "never queued, never sent");
  await settled(serviceId);
});
