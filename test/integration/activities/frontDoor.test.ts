/**
 * Front Door against the lab, with a second custom domain on the edge secret: a 409 after the first
 * domain was repointed is `busy` (with the partial snapshot), the call again finishes the write with
 * the right snapshot, and the rollback repoints both domains and deletes the secret it created.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { applyFrontDoorProfileHandler } from "../../../src/activities/applyFrontDoorProfile.js";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import { resolveBindingsHandler } from "../../../src/activities/resolveBindings.js";
import { rollbackTargetHandler } from "../../../src/activities/rollbackTarget.js";
import type { ReadCertificateOutput } from "../../../src/activities/contracts.js";
import { frontDoorProfileId } from "../../../src/azure/frontDoor.js";
import { resetDiscoveryCache } from "../../../src/discovery.js";
import { buildPlan } from "../../../src/domain/plan.js";
import { planRollback } from "../../../src/domain/rollback.js";
import { SEED } from "../../../emulator/lab/seed.js";
import { startActivityWorld, type ActivityWorld } from "./activitySupport.js";
import { aStagePolicy } from "../../support/policyBuilders.js";

type Found = Extract<ReadCertificateOutput, { found: true }>;

let w: ActivityWorld;
before(async () => {
  w = await startActivityWorld();
});
after(async () => w?.dispose());

const vaultName = SEED.vault.name;
const certificateName = SEED.certificates.edge.name;

test("a 409 after one domain moved is busy; calling again finishes; rollback puts both back and deletes our secret", async () => {
  // A second custom domain on the same secret as the seeded one.
  const profileId = w.composition.config.discovery.frontDoorScopes[0]!.id;
  const p = frontDoorProfileId(profileId);
  const cdn = w.composition.cdnClient(p.subscriptionId);
  const seeded = Object.keys(SEED.frontDoor.customDomains)[0]!;
  const seededDomain = await cdn.afdCustomDomains.get(p.resourceGroup, p.name, seeded);
  const originalSecret = seededDomain.tlsSettings!.secret!.id!.split("/").pop()!;
  await cdn.afdCustomDomains.beginCreateAndWait(
    p.resourceGroup,
    p.name,
    "api2-contoso-test",
    {
      hostName: "api2.contoso.test",
      tlsSettings: {
        certificateType: "CustomerCertificate",
        secret: { id: seededDomain.tlsSettings!.secret!.id! },
      },
    },
    { updateIntervalInMs: 50 },
  );
  resetDiscoveryCache();

  // The plan for the current version under a new secret name (as a new version would have).
  const cert = (await readCertificateHandler({ vaultName, certificateName }, w.context())) as Found;
  const { bindings } = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName } },
    w.context(),
  );
  const built = buildPlan({
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
  assert.ok(built.ok, JSON.stringify(built));
  const plan = built.plan;
  const step = plan.stages[0]!.steps[0]!;
  if (step.kind !== "frontDoorProfile") return assert.fail("expected a Front Door step");
  assert.equal(step.customDomains.length, 2, JSON.stringify(step.customDomains));
  assert.notEqual(step.newSecretName.toLowerCase(), originalSecret.toLowerCase());

  // 1. The second domain's PATCH answers 409 once: the first one has moved already.
  const second = step.customDomains[1]!.name;
  const rule = w.lab.ctx.faults.add({
    service: "arm",
    kind: "status",
    status: 409,
    code: "Conflict",
    count: 1,
    match: `^PATCH .*/customDomains/${second}$`,
  });
  const first = await applyFrontDoorProfileHandler({ step, rotationId: "fd-busy-1" }, w.context());
  assert.equal(
    w.lab.ctx.faults.list().some((f) => f.id === rule.id),
    false,
    "the fault was hit",
  );
  assert.equal(first.status, "busy", JSON.stringify(first));
  if (first.status !== "busy") return;
  assert.ok(first.partial, "the busy answer says part of the write landed");
  assert.deepEqual(
    first.partial.snapshot.customDomains.map((d) => d.previousSecretName),
    [originalSecret, originalSecret],
  );
  const moved = await cdn.afdCustomDomains.get(p.resourceGroup, p.name, step.customDomains[0]!.name);
  assert.equal(moved.tlsSettings?.secret?.id?.split("/").pop(), step.newSecretName, "the first domain moved");

  // 2. Called again: finishes, and the snapshot still names the original secret for both.
  const again = await applyFrontDoorProfileHandler({ step, rotationId: "fd-busy-1" }, w.context());
  assert.equal(again.status, "applied", JSON.stringify(again));
  if (again.status !== "applied") return;
  assert.deepEqual(
    again.snapshot.customDomains.map((d) => [
      d.name,
      d.previousSecretName,
      d.previousVersion,
      d.previousThumbprint,
    ]),
    step.customDomains.map((d) => [d.name, originalSecret, cert.version, cert.thumbprint]),
  );

  // 3. Rollback: both domains back, the secret we created deleted; a second run changes nothing.
  const rb = planRollback(plan, [
    {
      index: 1,
      stage: "frontDoor",
      status: "failed",
      steps: [{ stepId: step.stepId, write: "applied", snapshot: again.snapshot }],
    },
  ]);
  assert.deepEqual(rb.unrestorable, []);
  const action = rb.stages[0]!.actions[0]!;
  if (action.kind === "apimService") return assert.fail("expected a Secret or Front Door action");
  const input = { action, rotationId: "fd-busy-1", restartDeployments: false };
  const out = await rollbackTargetHandler(input, w.context());
  assert.equal(out.status, "applied", JSON.stringify(out));
  for (const d of step.customDomains) {
    const now = await cdn.afdCustomDomains.get(p.resourceGroup, p.name, d.name);
    assert.equal(now.tlsSettings?.secret?.id?.split("/").pop(), originalSecret, d.name);
  }
  const names = async () => {
    const out: string[] = [];
    for await (const s of cdn.secrets.listByProfile(p.resourceGroup, p.name)) out.push(s.name!.toLowerCase());
    return out;
  };
  // The repoint keeps the new secret: it goes only once the rollback is verified (its own phase).
  assert.ok((await names()).includes(step.newSecretName.toLowerCase()), "kept until verified");
  const twice = await rollbackTargetHandler(input, w.context());
  assert.equal(twice.status, "applied", JSON.stringify(twice));
  if (twice.status === "applied") assert.match(twice.detail ?? "", /0 domain\(s\)/);
  const deleted = await rollbackTargetHandler({ ...input, phase: "deleteCreated" }, w.context());
  if (deleted.status === "applied") assert.match(deleted.detail ?? "", /deleted/);
  const left = await names();
  assert.ok(!left.includes(step.newSecretName.toLowerCase()), `secret deleted: ${left.join(", ")}`);
  assert.ok(left.includes(originalSecret.toLowerCase()), "the previous secret stays");
  const gone = await rollbackTargetHandler({ ...input, phase: "deleteCreated" }, w.context());
  if (gone.status === "applied") assert.match(gone.detail ?? "", /already gone/);
});
