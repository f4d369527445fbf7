/**
 * Kubernetes Secrets against the lab API server: what a Secret carries is judged from its tls.crt
 * (a certificate replaced by hand under our unchanged annotations is not "already deployed"), and
 * the `<name>-previous` backup is ours alone (a foreign Secret of that name is never overwritten, a
 * backup from another rotation run is never trusted as the snapshot nor restored from).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, before, test } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { applyKubernetesSecretHandler } from "../../../src/activities/applyKubernetesSecret.js";
import { observeBindingHandler } from "../../../src/activities/observeBinding.js";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import { readDeployedHandler } from "../../../src/activities/readDeployed.js";
import { resolveBindingsHandler } from "../../../src/activities/resolveBindings.js";
import { rollbackTargetHandler } from "../../../src/activities/rollbackTarget.js";
import type { ReadCertificateOutput } from "../../../src/activities/contracts.js";
import type { Binding } from "../../../src/domain/bindings.js";
import { buildPlan, type KubernetesSecretStep, type Plan } from "../../../src/domain/plan.js";
import { judgeDrift } from "../../../src/domain/drift.js";
import { planRollback } from "../../../src/domain/rollback.js";
import {
  createSecret,
  deleteSecret,
  kubeApis,
  readSecret,
  replaceSecret,
  secretText,
  type KubeApis,
} from "../../../src/kubernetes/tlsSecrets.js";
import { SEED } from "../../../emulator/lab/seed.js";
import { startActivityWorld, type ActivityWorld } from "./activitySupport.js";
import { recordLabWrites } from "../../support/e2e.js";
import { aDriftOptions, aStagePolicy } from "../../support/policyBuilders.js";

type Found = Extract<ReadCertificateOutput, { found: true }>;

let w: ActivityWorld;
before(async () => {
  w = await startActivityWorld();
});
after(async () => w?.dispose());

const vaultName = SEED.vault.name;
const certificateName = SEED.certificates.ingress.name;
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const thumbOf = (pem: string | undefined) =>
  pem ? new X509Certificate(pem).fingerprint.replace(/:/g, "").toUpperCase() : undefined;

/** The ingress certificate's current version, its binding, plan step and the cluster's APIs. */
async function world(): Promise<{
  cert: Found;
  binding: Binding;
  plan: Plan;
  step: KubernetesSecretStep;
  apis: KubeApis;
}> {
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
    },
    bindings,
  });
  assert.ok(built.ok, JSON.stringify(built));
  const step = built.plan.stages[0]!.steps[0]!;
  if (step.kind !== "kubernetesSecret") throw new Error("expected a Secret step");
  const apis = kubeApis(await w.composition.kubeConfig(step.cluster));
  return { cert, binding: bindings[0]!, plan: built.plan, step, apis };
}

/** Replaces the Secret's tls.crt/tls.key by hand with a lab-issued certificate, keeping every annotation. */
async function replaceByHand(apis: KubeApis, step: KubernetesSecretStep): Promise<string> {
  const hand = await w.lab.ctx.pki.serverCertificate([...SEED.certificates.ingress.hosts]);
  const s = (await readSecret(apis, step.namespace, step.secretName))!;
  await replaceSecret(apis, {
    ...s,
    data: { ...s.data, "tls.crt": b64(hand.chainPem), "tls.key": b64(hand.keyPem) },
  });
  return thumbOf(hand.certPem)!;
}

const apply = (plan: Plan, step: KubernetesSecretStep, rotationId: string) =>
  applyKubernetesSecretHandler(
    { step, certificate: plan.certificate, rotationId, restartDeployments: false },
    w.context(),
  );

test("a tls.crt replaced by hand under our annotations is not 'already deployed': the write happens again", async () => {
  const { cert, binding, plan, step, apis } = await world();
  const first = await apply(plan, step, "k8s-hand-1");
  assert.equal(first.status, "applied", JSON.stringify(first));
  const deployed = async () => (await readDeployedHandler({ bindings: [binding] }, w.context())).deployed[0];
  assert.equal((await deployed())?.thumbprint, cert.thumbprint);

  const hand = await replaceByHand(apis, step);
  const annotations = (await readSecret(apis, step.namespace, step.secretName))!.metadata!.annotations!;
  assert.equal(annotations["cert-rotation.e2e/thumbprint"], cert.thumbprint, "annotations unchanged");
  assert.equal((await deployed())?.thumbprint, hand, "readDeployed reports the leaf in tls.crt");
  // Drift sees a Secret configured with no version of the certificate, and would repair it.
  const observed = await observeBindingHandler({ binding }, w.context());
  assert.equal(observed.configured.status, "version", JSON.stringify(observed.configured));
  if (observed.configured.status === "version")
    assert.match(observed.configured.version, new RegExp(`^none \\(tls\\.crt holds ${hand}`));
  const vault = { version: cert.version, thumbprint: cert.thumbprint };
  const configuredOnly = { ...observed, served: [] };
  assert.equal(judgeDrift(configuredOnly, vault, new Date(), aDriftOptions()).action, "startRollout");

  const again = await apply(plan, step, "k8s-hand-1");
  assert.equal(again.status, "applied", JSON.stringify(again));
  if (again.status === "applied") assert.notEqual(again.detail, "already applied");
  const after = (await readSecret(apis, step.namespace, step.secretName)) as V1Secret;
  assert.equal(
    thumbOf(secretText(after, "tls.crt")),
    cert.thumbprint,
    "the vault version is back in tls.crt",
  );
});

test("a foreign Secret named like the backup is never overwritten: the write fails with a reason", async () => {
  const { plan, step, apis } = await world();
  const name = `${step.secretName}-previous`;
  await deleteSecret(apis, step.namespace, name);
  const foreign = await createSecret(apis, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: step.namespace, labels: { app: "someone-else" } },
    type: "Opaque",
    data: { note: b64("not a backup") },
  });
  const before = (await readSecret(apis, step.namespace, step.secretName))!;
  const out = await apply(plan, step, "k8s-foreign-1");
  assert.equal(out.status, "failed", JSON.stringify(out));
  if (out.status === "failed") {
    assert.equal(out.reason, "BackupNameTaken");
    assert.equal(out.write, "notApplied");
    assert.match(out.message, /-previous exists and is not a backup this control plane made/);
  }
  const still = (await readSecret(apis, step.namespace, name))!;
  assert.equal(
    still.metadata?.resourceVersion,
    foreign.metadata?.resourceVersion,
    "the foreign Secret is untouched",
  );
  assert.deepEqual(still.data, { note: b64("not a backup") });
  const main = (await readSecret(apis, step.namespace, step.secretName))!;
  assert.equal(
    main.metadata?.resourceVersion,
    before.metadata?.resourceVersion,
    "the Secret was not written",
  );
  // Once it is gone, the write makes its own backup.
  await deleteSecret(apis, step.namespace, name);
  const ok = await apply(plan, step, "k8s-foreign-1");
  assert.equal(ok.status, "applied", JSON.stringify(ok));
  const backup = (await readSecret(apis, step.namespace, name))!;
  assert.equal(backup.metadata?.annotations?.["cert-rotation.e2e/backup-of"], step.secretName);
  assert.equal(backup.metadata?.annotations?.["cert-rotation.e2e/rotation"], "k8s-foreign-1");
});

test("rollback restores only from a backup this run made", async () => {
  const { step } = await world();
  const action = {
    kind: "kubernetesSecret" as const,
    stepId: step.stepId,
    cluster: step.cluster,
    namespace: step.namespace,
    secretName: step.secretName,
    restore: { from: "backupSecret" as const, secretName: `${step.secretName}-previous` },
    writeTls: true,
    writeCa: false,
    restartDeployments: [],
    probes: [],
  };
  const out = await rollbackTargetHandler(
    { action, rotationId: "k8s-some-other-run", restartDeployments: true },
    w.context(),
  );
  assert.equal(out.status, "failed", JSON.stringify(out));
  if (out.status === "failed") assert.equal(out.reason, "BackupFromAnotherRotation");
});

test("a backup left by another run is not taken as the snapshot of a Secret this run created", async () => {
  const { plan, step, apis } = await world();
  // A backup from run A stays behind; the Secret is then gone, so run B creates it.
  const a = await apply(plan, step, "k8s-run-A");
  assert.equal(a.status, "applied", JSON.stringify(a));
  const stale = (await readSecret(apis, step.namespace, `${step.secretName}-previous`))!;
  assert.equal(stale.metadata?.annotations?.["cert-rotation.e2e/rotation"], "k8s-run-A");
  await deleteSecret(apis, step.namespace, step.secretName);
  const created = await apply(plan, step, "k8s-run-B");
  assert.equal(created.status, "applied", JSON.stringify(created));
  if (created.status === "applied") assert.equal(created.snapshot.existed, false);
  // A Secret we create is registered like one annotated by hand, so discovery finds it later.
  const fresh = (await readSecret(apis, step.namespace, step.secretName))!;
  assert.equal(
    fresh.metadata?.annotations?.["cert-rotation.e2e/certificate"],
    `${plan.certificate.vaultName}/${plan.certificate.certificateName}`,
  );
  // The retry of run B must say the same, not restore run A's copy on rollback.
  const retry = await apply(plan, step, "k8s-run-B");
  assert.equal(retry.status, "applied", JSON.stringify(retry));
  if (retry.status !== "applied") return;
  assert.equal(retry.detail, "already applied");
  assert.equal(retry.snapshot.existed, false, JSON.stringify(retry.snapshot));
  assert.equal(retry.snapshot.backupSecretName, undefined);
  const rb = planRollback(plan, [
    {
      index: 1,
      stage: "kubernetes",
      status: "failed",
      steps: [{ stepId: step.stepId, write: "applied", snapshot: retry.snapshot }],
    },
  ]);
  assert.equal(rb.stages[0]?.actions[0]?.kind, "kubernetesSecret");
  const action = rb.stages[0].actions[0];
  assert.deepEqual(action.kind === "kubernetesSecret" ? action.restore : undefined, { from: "delete" });
});

test("restarts follow the setting: a retried write that had landed restarts once; a rollback restarts only when restarts are on, once", async () => {
  const { plan, step: planned, apis } = await world();
  const step = { ...planned, restartDeployments: [SEED.cluster.ingress.deployment] };
  const writes = recordLabWrites(w.lab);
  const restarts = () =>
    writes.filter((x) => x.method === "PATCH" && /\/deployments\/backend$/.test(x.path)).length;
  const write = (restartDeployments: boolean) =>
    applyKubernetesSecretHandler(
      { step, certificate: plan.certificate, rotationId: "k8s-restart-1", restartDeployments },
      w.context(),
    );
  const rollback = async (restartDeployments: boolean, snapshot: unknown) => {
    const rb = planRollback(plan, [
      {
        index: 1,
        stage: "kubernetes",
        status: "failed",
        steps: [{ stepId: step.stepId, write: "applied", snapshot: snapshot as never }],
      },
    ]);
    const action = rb.stages[0]!.actions[0]!;
    if (action.kind !== "kubernetesSecret") throw new Error("expected a Secret action");
    const a = { ...action, restartDeployments: step.restartDeployments };
    return rollbackTargetHandler({ action: a, rotationId: "k8s-restart-1", restartDeployments }, w.context());
  };
  // The Secret holds another leaf first, so the write below really writes.
  await replaceByHand(apis, step);

  // 1. The write lands but its restart does not (an attempt that died after the write).
  const first = await write(false);
  assert.equal(first.status, "applied", JSON.stringify(first));
  assert.equal(restarts(), 0);
  // 2. The retry finds the write landed: it still restarts, once.
  const retry = await write(true);
  assert.equal(retry.status, "applied", JSON.stringify(retry));
  if (retry.status === "applied") assert.equal(retry.detail, "already applied");
  assert.equal(restarts(), 1, "the retry of a landed write restarts the Deployment");
  const deployment = await apis.apps.readNamespacedDeployment({ name: "backend", namespace: step.namespace });
  assert.equal(
    deployment.spec?.template.metadata?.annotations?.["cert-rotation.e2e/restarted-for"],
    "k8s-restart-1",
  );
  assert.equal((await write(true)).status, "applied");
  assert.equal(restarts(), 1, "a second retry does not restart again");

  // 3. With restarts off, a rollback restarts nothing.
  const snapshot = first.status === "applied" ? first.snapshot : undefined;
  const off = await rollback(false, snapshot);
  assert.equal(off.status, "applied", JSON.stringify(off));
  assert.equal(restarts(), 1, "restarts are off: the rollback restarts nothing");
  // 4. With restarts on, a retried rollback whose restore landed restarts once, and not again.
  assert.equal((await rollback(true, snapshot)).status, "applied");
  assert.equal(restarts(), 2, "the retried rollback restarts the Deployment");
  assert.equal((await rollback(true, snapshot)).status, "applied");
  assert.equal(restarts(), 2, "once");
});
