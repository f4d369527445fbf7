/**
 * End to end, driven by Key Vault events through the lab's Event Grid: a certificate near expiry is
 * renewed and rolled out, a new version created by hand is rolled out, duplicate and out-of-order
 * deliveries start one rollout — each observed by real TLS handshakes at the lab's hops.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { rotationInstanceId } from "../../src/domain/instanceIds.js";
import type { RolloutReport } from "../../src/domain/report.js";
import { currentVersion, explain, holdFault, newVersion, thumb } from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";

describe("rollouts started by Key Vault events", () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(async () => {
    await world?.stop();
  });

  it("renews a certificate near expiry and serves the new version at its hop", async () => {
    const name = "apim-gateway";
    const before = await currentVersion(world, name);
    const servedBefore = await world.served("apim.contoso.test");
    assert.deepEqual(
      servedBefore,
      [before.thumbprint],
      "the gateway serves the vault's current version first",
    );

    await world.emitKeyVaultEvent("CertificateNearExpiry", name, before.version);
    const id = rotationInstanceId({ vaultName: VAULT, certificateName: name });
    await world.waitFor("the rollout to start", () => world.status(id));
    const report = await world.waitForRollout(id);

    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    const next = report.versions.next;
    assert.ok(next?.version && next.version !== before.version, "a new version was rolled out");
    const renewed = await world.certificates.getCertificateVersion(name, next.version);
    assert.ok(
      renewed.properties.tags?.["cert-rotation.e2e/rotation"]?.startsWith(`${id}@`),
      "the renewal is tagged with this rollout's run",
    );
    const servedAfter = await world.served("apim.contoso.test");
    assert.deepEqual(servedAfter, [thumb(renewed.properties.x509Thumbprint)]);
    assert.equal(next.thumbprint, servedAfter[0]);
    console.log(`near expiry: apim.contoso.test served ${servedBefore[0]} before, ${servedAfter[0]} after`);

    // The rollout's own NewVersionCreated did not start a second rollout.
    const afterwards = await world.status(id);
    assert.equal(afterwards?.runtimeStatus, "Completed");
    assert.equal((afterwards?.output as RolloutReport).startedAt, report.startedAt);

    // Recorded and told.
    const audit = await world.api("GET", `/api/rollouts?certificate=${name}`);
    assert.equal(audit.status, 200);
    assert.ok(JSON.stringify(audit.body).includes(next.version), "the audit record names the new version");
    const outcomes = await world.lab.control("GET", "/lab/eventgrid/topics/rotation-outcomes/events");
    assert.ok(JSON.stringify(outcomes.body).includes(next.version), "an outcome event names the new version");
  });

  it("rolls out a version created by hand (NewVersionCreated) to every Front Door edge location", async () => {
    const name = "edge-contoso";
    const before = await currentVersion(world, name);
    const id = rotationInstanceId({ vaultName: VAULT, certificateName: name });
    const created = await newVersion(world, name);
    // The lab vault sends NewVersionCreated through Event Grid by itself.
    await world.waitFor("the rollout to start", () => world.status(id));
    const report = await world.waitForRollout(id);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    assert.equal(report.versions.next?.version, created.version);
    const served = await world.served("api.contoso.test");
    assert.ok(served.length >= 2, "two edge locations");
    for (const t of served) assert.equal(t, created.thumbprint);
    assert.notEqual(served[0], before.thumbprint);
    console.log(
      `new version: api.contoso.test served ${before.thumbprint} before, ${served.join(", ")} after`,
    );
  });

  it("starts one rollout for duplicate and out-of-order deliveries", async () => {
    const name = "ingress-tls";
    const id = rotationInstanceId({ vaultName: VAULT, certificateName: name });
    const old = await currentVersion(world, name);
    const v2 = await newVersion(world, name);
    await world.waitFor("the rollout of v2", () => world.status(id));
    const first = await world.waitForRollout(id);
    assert.equal(first.outcome?.state, "Succeeded", explain(first));
    assert.equal(first.versions.next?.version, v2.version);

    // The same event again, and an older version's event arriving late.
    await world.emitKeyVaultEvent("CertificateNewVersionCreated", name, v2.version);
    await world.emitKeyVaultEvent("CertificateNewVersionCreated", name, old.version, {
      eventTime: new Date(Date.parse(first.startedAt) - 60_000),
    });
    await world.emitKeyVaultEvent("CertificateNearExpiry", name, old.version);
    const skipped = /\(Certificate\w+ kv-contoso\/ingress-tls\): skipped: /g;
    await world.waitFor("the host to log three skipped deliveries", () =>
      (world.logs().match(skipped) ?? []).length >= 3 ? true : undefined,
    );
    const status = await world.status(id);
    assert.equal((status?.output as RolloutReport).startedAt, first.startedAt, "no second rollout ran");
    assert.deepEqual(await world.served("backend.contoso.test"), [v2.thumbprint]);
  });

  it("does not roll out a late NewVersionCreated for an older version after a rollback", async () => {
    const name = "ingress-tls";
    const id = rotationInstanceId({ vaultName: VAULT, certificateName: name });
    const older = await currentVersion(world, name);
    const servedBefore = await world.served("backend.contoso.test");
    const lift = await holdFault(world.lab, {
      service: "edge",
      kind: "neverPropagate",
      match: "ingress backend\\.contoso\\.test",
    });
    let rolledBack: RolloutReport;
    try {
      const newer = (await newVersion(world, name)).version;
      rolledBack = await world.waitFor("the rollout of the newer version to end", async () => {
        const s = await world.status(id);
        const r = s?.output as RolloutReport | undefined;
        return s?.runtimeStatus === "Completed" && r?.versions.next?.version === newer ? r : undefined;
      });
      assert.equal(rolledBack.outcome?.state, "RolledBack", explain(rolledBack));
    } finally {
      await lift();
    }
    // The older version's event arrives late (sent now: event order says nothing).
    const eventId = await world.emitKeyVaultEvent("CertificateNewVersionCreated", name, older.version);
    await world.waitFor("the late event to be skipped", () =>
      world.logs().includes(`Event ${eventId} (CertificateNewVersionCreated kv-contoso/${name}): skipped: `)
        ? true
        : undefined,
    );
    assert.match(
      world.logs(),
      new RegExp(`${older.version} \\(created .*\\) is older than the vault's current`),
    );
    const status = await world.status(id);
    assert.equal((status?.output as RolloutReport).startedAt, rolledBack.startedAt, "no rollout started");
    assert.deepEqual(await world.served("backend.contoso.test"), servedBefore);
  });
});
