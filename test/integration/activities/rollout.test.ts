/**
 * The write path against the lab, through the real SDKs: renew each seeded certificate, preflight
 * the new version, plan, apply each step, read the resource back and see the new leaf in real
 * handshakes at the lab hops; then roll back and see the previous leaf again.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { applyFrontDoorProfileHandler } from "../../../src/activities/applyFrontDoorProfile.js";
import { applyKubernetesSecretHandler } from "../../../src/activities/applyKubernetesSecret.js";
import { preflightCertificateHandler } from "../../../src/activities/preflightCertificate.js";
import { probeEndpointsHandler } from "../../../src/activities/probeEndpoints.js";
import { readApimServiceHandler } from "../../../src/activities/readApimService.js";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import { readFrontDoorProfileHandler } from "../../../src/activities/readFrontDoorProfile.js";
import { readRenewalHandler } from "../../../src/activities/readRenewal.js";
import { resolveBindingsHandler } from "../../../src/activities/resolveBindings.js";
import { startRenewalHandler } from "../../../src/activities/startRenewal.js";
import type { ReadCertificateOutput } from "../../../src/activities/contracts.js";
import type { Binding } from "../../../src/domain/bindings.js";
import { buildPlan, type Plan } from "../../../src/domain/plan.js";
import { SEED } from "../../../emulator/lab/seed.js";
import { eventually, startActivityWorld, type ActivityWorld } from "./activitySupport.js";
import { queueAndSend } from "./apimQueueSupport.js";
import { aStagePolicy } from "../../support/policyBuilders.js";

let w: ActivityWorld;
before(async () => {
  // Azurite: the APIM write keeps its snapshot in Table storage before it writes.
  w = await startActivityWorld({ storage: true });
});
after(async () => w?.dispose());

const vaultName = SEED.vault.name;
type Found = Extract<ReadCertificateOutput, { found: true }>;

async function renewed(
  certificateName: string,
  rotationId: string,
): Promise<{ before: Found; after: Found }> {
  const before = (await readCertificateHandler({ vaultName, certificateName }, w.context())) as Found;
  const started = await startRenewalHandler({ vaultName, certificateName, rotationId }, w.context());
  assert.equal(started.status, "started");
  const again = await startRenewalHandler({ vaultName, certificateName, rotationId }, w.context());
  assert.equal(again.status, "alreadyPending", "a second start while pending or done is idempotent");
  const done = await eventually(async () => {
    const r = await readRenewalHandler({ vaultName, certificateName }, w.context());
    return r.status === "completed" ? r : undefined;
  });
  assert.notEqual(done.version, before.version);
  const after = (await readCertificateHandler({ vaultName, certificateName }, w.context())) as Found;
  assert.equal(after.version, done.version);
  assert.equal(after.tags["cert-rotation.e2e/rotation"], rotationId);
  assert.deepEqual(after.previousVersions[0], { version: before.version, thumbprint: before.thumbprint });
  return { before, after };
}

function planFor(certificateName: string, cert: Found, bindings: Binding[]): Plan {
  const plan = buildPlan({
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
  assert.ok(plan.ok, JSON.stringify(plan));
  return plan.plan;
}

test("the ingress certificate: renewed, preflighted, written to its Secret, served by the ingress", async () => {
  const name = SEED.certificates.ingress.name;
  const { before, after: next } = await renewed(name, "rot-ingress-1");
  const { bindings } = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName: name } },
    w.context(),
  );
  assert.deepEqual(
    bindings.map((b) => b.kind),
    ["kubernetesSecret"],
  );
  const pre = await preflightCertificateHandler(
    { vaultName, certificateName: name, version: next.version, bindings },
    w.context(),
  );
  assert.equal(pre.verdict, "Proceed", JSON.stringify(pre.failures));
  assert.equal(pre.thumbprint, next.thumbprint);
  const plan = planFor(name, next, bindings);
  const step = plan.stages[0]!.steps[0]!;
  assert.equal(step.kind, "kubernetesSecret");
  if (step.kind !== "kubernetesSecret") return;
  const out = await applyKubernetesSecretHandler(
    { step, certificate: plan.certificate, rotationId: "rot-ingress-1", restartDeployments: false },
    w.context(),
  );
  assert.equal(out.status, "applied", JSON.stringify(out));
  if (out.status !== "applied") return;
  assert.equal(out.snapshot.previousThumbprint, before.thumbprint);
  assert.equal(out.snapshot.backupSecretName, `${step.secretName}-previous`);
  const probed = await eventually(async () => {
    const p = await probeEndpointsHandler(
      { stage: "kubernetes", probes: step.probes, expectThumbprint: next.thumbprint },
      w.context(),
    );
    return p.ok ? p : undefined;
  });
  assert.ok(probed.evidence.every((e) => e.servedThumbprint === next.thumbprint));
  // A retry of the same write is recognised and answers the same snapshot.
  const retry = await applyKubernetesSecretHandler(
    { step, certificate: plan.certificate, rotationId: "rot-ingress-1", restartDeployments: false },
    w.context(),
  );
  assert.equal(retry.status, "applied");
  if (retry.status === "applied") assert.equal(retry.snapshot.previousThumbprint, before.thumbprint);
});

test("the APIM gateway certificate: one PATCH keeps the built-in entry, the gateway serves the new leaf", async () => {
  const name = SEED.certificates.apim.name;
  const { after: next } = await renewed(name, "rot-apim-1");
  const { bindings } = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName: name } },
    w.context(),
  );
  const plan = planFor(name, next, bindings);
  const step = plan.stages[0]!.steps[0]!;
  if (step.kind !== "apimService") return assert.fail("expected an APIM step");
  const beforeRead = await readApimServiceHandler({ serviceId: step.serviceId }, w.context());
  const out = await queueAndSend(w, step, "rot-apim-1");
  assert.equal(out.status, "applied", JSON.stringify(out));
  const read = await eventually(async () => {
    const r = await readApimServiceHandler({ serviceId: step.serviceId }, w.context());
    return r.provisioningState === "Succeeded" ? r : undefined;
  });
  assert.equal(read.hostnames.length, beforeRead.hostnames.length, "no entry lost");
  assert.ok(
    read.hostnames.some((h) => /azure-api\.net$/.test(h.hostName)),
    "the built-in entry is kept",
  );
  assert.equal(
    read.hostnames.find((h) => h.hostName === "apim.contoso.test")?.keyVaultId,
    plan.certificate.secretId,
  );
  await eventually(async () => {
    const p = await probeEndpointsHandler(
      { stage: "apim", probes: step.probes, expectThumbprint: next.thumbprint },
      w.context(),
    );
    return p.ok;
  });
});

test("the edge certificate: a new Front Door secret, the domain repointed, both edge locations serve it", async () => {
  const name = SEED.certificates.edge.name;
  const { after: next } = await renewed(name, "rot-edge-1");
  const { bindings } = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName: name } },
    w.context(),
  );
  const plan = planFor(name, next, bindings);
  const step = plan.stages[0]!.steps[0]!;
  if (step.kind !== "frontDoorProfile") return assert.fail("expected a Front Door step");
  const out = await applyFrontDoorProfileHandler({ step, rotationId: "rot-edge-1" }, w.context());
  assert.equal(out.status, "applied", JSON.stringify(out));
  const read = await readFrontDoorProfileHandler(
    { profileId: step.profileId, customDomains: step.customDomains.map((d) => d.name) },
    w.context(),
  );
  assert.equal(read.customDomains[0]?.secretName, step.newSecretName);
  const p = await eventually(async () => {
    const r = await probeEndpointsHandler(
      { stage: "frontDoor", probes: step.probes, expectThumbprint: next.thumbprint },
      w.context(),
    );
    return r.ok ? r : undefined;
  }, 20_000);
  assert.equal(p.evidence.length, 2, "one handshake per edge location");
});
