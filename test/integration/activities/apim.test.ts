/**
 * APIM snapshots survive reruns: the state before the write is kept in Table storage (Azurite) before
 * anything is written, so a rerun after the write landed — a crash before Durable recorded the
 * result, or a conflict part-way — still answers what the entries pointed at before, and a `failed`
 * after a partial write carries that snapshot.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DefaultAzureCredential } from "@azure/identity";
import { CertificateClient } from "@azure/keyvault-certificates";
import { applyApimServiceHandler } from "../../../src/activities/applyApimService.js";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import { resolveBindingsHandler } from "../../../src/activities/resolveBindings.js";
import type { ReadCertificateOutput } from "../../../src/activities/contracts.js";
import { apimServiceId } from "../../../src/azure/apim.js";
import { resetDiscoveryCache } from "../../../src/discovery.js";
import { buildPlan, type ApimServiceStep } from "../../../src/domain/plan.js";
import { planRollback } from "../../../src/domain/rollback.js";
import { SEED } from "../../../emulator/lab/seed.js";
import { eventually, startActivityWorld, type ActivityWorld } from "./activitySupport.js";

type Found = Extract<ReadCertificateOutput, { found: true }>;

let w: ActivityWorld;
before(async () => {
  w = await startActivityWorld({ storage: true });
});
after(async () => w?.dispose());

const vaultName = SEED.vault.name;

/** A new version of `certificateName`, created through the SDK. */
async function newVersion(certificateName: string): Promise<void> {
  const kv = new CertificateClient(w.composition.vaultUrl(vaultName)!, new DefaultAzureCredential());
  const policy = await kv.getCertificatePolicy(certificateName);
  const poller = await kv.beginCreateCertificate(
    certificateName,
    policy as never,
    { intervalInMs: 50 } as never,
  );
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
    certificate: { vaultName, vaultUrl: cert.vaultUrl, certificateName, version: cert.version },
    bindings,
  });
  assert.ok(built.ok, JSON.stringify(built));
  const step = built.plan.stages.flatMap((s) => s.steps).find((s) => s.kind === "apimService");
  if (step?.kind !== "apimService") throw new Error("expected an APIM step");
  return step;
}

const settled = (serviceId: string) =>
  eventually(async () => {
    const id = apimServiceId(serviceId);
    const s = await w.composition
      .apimClient(id.subscriptionId)
      .apiManagementService.get(id.resourceGroup, id.name);
    return s.provisioningState === "Succeeded";
  });

test("a rerun after the hostname PATCH landed answers the snapshot of the first attempt", async () => {
  await newVersion(SEED.certificates.apim.name);
  const step = await stepFor(SEED.certificates.apim.name);
  assert.ok(step.hostnames.length > 0);
  const first = await applyApimServiceHandler({ step, rotationId: "apim-rerun-1" }, w.context());
  assert.equal(first.status, "applied", JSON.stringify(first));
  if (first.status !== "applied") return;
  assert.ok(
    first.snapshot.hostnames.every((h) => h.previousKeyVaultId),
    JSON.stringify(first.snapshot),
  );
  // Durable runs the activity again (say the worker died before the result was recorded).
  const rerun = await applyApimServiceHandler({ step, rotationId: "apim-rerun-1" }, w.context());
  assert.equal(rerun.status, "applied", JSON.stringify(rerun));
  if (rerun.status !== "applied") return;
  assert.equal(rerun.detail, "already applied");
  assert.deepEqual(rerun.snapshot, first.snapshot);
  const plan = {
    certificate: { vaultName, vaultUrl: "", certificateName: "", version: "", secretId: "" },
    stages: [
      { index: 1, stage: "apim" as const, steps: [step], probeDeadlineSeconds: 1, probeIntervalSeconds: 1 },
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
        steps: [{ stepId: step.stepId, write: "applied", snapshot: rerun.snapshot }],
      },
    ]).unrestorable,
    [],
    "the rerun's snapshot can still be rolled back",
  );
  await settled(step.serviceId);
});

test("a conflict after one certificate entity moved fails with the snapshot; the rerun keeps it", async () => {
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
  const first = await applyApimServiceHandler({ step, rotationId: "apim-partial-1" }, w.context());
  assert.equal(
    w.lab.ctx.faults.list().some((f) => f.id === rule.id),
    false,
    "the fault was hit",
  );
  assert.equal(first.status, "failed", JSON.stringify(first));
  if (first.status !== "failed") return;
  assert.equal(first.write, "unknown");
  assert.deepEqual(
    first.snapshot?.certificates.map((c) => c.previousSecretIdentifier),
    [previous, previous],
    "the failed answer carries the snapshot",
  );
  const moved = await apim.certificate.get(id.resourceGroup, id.name, step.certificates[0]!.certificateId);
  assert.equal(moved.keyVault?.secretIdentifier, step.keyVaultSecretId, "the first entity moved");

  const rerun = await applyApimServiceHandler({ step, rotationId: "apim-partial-1" }, w.context());
  assert.equal(rerun.status, "applied", JSON.stringify(rerun));
  if (rerun.status === "applied") assert.deepEqual(rerun.snapshot, first.snapshot);
});
