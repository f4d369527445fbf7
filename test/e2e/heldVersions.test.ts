/**
 * End to end, a failed version is remembered: after a rollout of a version ends RolledBack, the
 * drift scan starts nothing for it (it reports the version held and publishes an outcome event),
 * until an operator retries it through `POST /api/certificates/{vault}/{certificate}/retry`, and a
 * near-expiry of the deployed version renews rather than rolling out a held current version —
 * observed by real TLS handshakes at the lab's ingress.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { rotationInstanceId } from "../../src/domain/instanceIds.js";
import type { RolloutReport } from "../../src/domain/report.js";
import { currentVersion, explain, holdFault, newVersion, runDriftScan } from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";
const NAME = "ingress-tls";
const HOST = "backend.contoso.test";

describe("held versions", () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(async () => {
    await world?.stop();
  });

  const id = rotationInstanceId({ vaultName: VAULT, certificateName: NAME });
  const retryPath = (vault: string, certificate: string) =>
    `/api/certificates/${encodeURIComponent(vault)}/${encodeURIComponent(certificate)}/retry`;

  /** The finished rollout (started by its NewVersionCreated) of `version`. */
  const rolloutOf = (version: string) =>
    world.waitFor(`the rollout of version ${version} to end`, async () => {
      const s = await world.status(id);
      const r = s?.output as RolloutReport | undefined;
      return s?.runtimeStatus === "Completed" && r?.versions.next?.version === version ? r : undefined;
    });

  it("refuses a retry with a bad vault or certificate name, and one with nothing held", async () => {
    for (const [vault, certificate, field] of [
      ["kv-elsewhere", NAME, "vault"],
      [VAULT, "ingress tls", "certificate"],
    ] as const) {
      const answer = await world.api("POST", retryPath(vault, certificate));
      assert.equal(answer.status, 400, answer.text);
      assert.equal((answer.body as { error: { field: string } }).error.field, field, answer.text);
    }
    const none = await world.api("POST", retryPath(VAULT, "edge-contoso"));
    assert.equal(none.status, 404, none.text);
    assert.match(none.text, /NotHeld/);
  });

  it("a drift scan after a RolledBack starts nothing, says the version is held, and a retry rolls it out", async () => {
    const servedBefore = await world.served(HOST);
    const lift = await holdFault(world.lab, {
      service: "edge",
      kind: "neverPropagate",
      match: "ingress backend\\.contoso\\.test",
    });
    const v = await newVersion(world, NAME);
    try {
      const failed = await rolloutOf(v.version);
      assert.equal(failed.outcome?.state, "RolledBack", explain(failed));
      assert.deepEqual(await world.served(HOST), servedBefore);

      // The fault still holds: a repair would fail again. The scan must not start one.
      const scan = await runDriftScan(world);
      const mine = scan.certificates.find((c) => c.certificate.certificateName === NAME);
      assert.ok(mine, JSON.stringify(scan).slice(0, 2000));
      assert.equal(mine.repair?.start, undefined, `no rollout started: ${JSON.stringify(mine.repair)}`);
      assert.equal(mine.held?.version, v.version, JSON.stringify(mine).slice(0, 2000));
      assert.match(mine.held?.message ?? "", /RolledBack/);
      assert.ok(
        mine.bindings.some((b) => b.verdict?.reason === "VersionHeld"),
        JSON.stringify(mine.bindings.map((b) => b.verdict)),
      );
      const status = await world.status(id);
      assert.equal((status?.output as RolloutReport).runId, failed.runId, "no new rollout ran");
      const events = await world.lab.control("GET", "/lab/eventgrid/topics/rotation-outcomes/events");
      const types = (events.body as { value: { event: { type: string; subject: string } }[] }).value.map(
        (e) => `${e.event.type} ${e.event.subject}`,
      );
      assert.ok(
        types.includes(`E2ECertRotation.Drift.VersionHeld ${VAULT}/${NAME}`),
        `a held event was published: ${types.join(", ")}`,
      );
    } finally {
      await lift();
    }

    // An operator retries it (the fault is gone): it is rolled out and served.
    const answer = await world.api("POST", retryPath(VAULT, NAME));
    assert.equal(answer.status, 202, answer.text);
    const retried = await world.waitForRollout((answer.body as { id: string }).id);
    assert.equal(retried.outcome?.state, "Succeeded", explain(retried));
    assert.equal(retried.versions.next?.version, v.version);
    assert.deepEqual(await world.served(HOST), [v.thumbprint]);
    const again = await world.api("POST", retryPath(VAULT, NAME));
    assert.equal(again.status, 404, `nothing is held after the retry: ${again.text}`);
  });

  it("a near-expiry of the deployed version renews instead of rolling out the held current version", async () => {
    const deployed = await currentVersion(world, NAME);
    const lift = await holdFault(world.lab, {
      service: "edge",
      kind: "neverPropagate",
      match: "ingress backend\\.contoso\\.test",
    });
    let held: string;
    try {
      held = (await newVersion(world, NAME)).version;
      const failed = await rolloutOf(held);
      assert.equal(failed.outcome?.state, "RolledBack", explain(failed));
    } finally {
      await lift();
    }
    const eventId = await world.emitKeyVaultEvent("CertificateNearExpiry", NAME, deployed.version);
    const renewal = await world.waitFor("the rollout of the near-expiry event", async () => {
      const s = await world.status(id);
      const r = s?.output as RolloutReport | undefined;
      return s?.runtimeStatus === "Completed" && r?.trigger.detail.includes(`(event ${eventId})`)
        ? r
        : undefined;
    });
    assert.equal(renewal.outcome?.state, "Succeeded", explain(renewal));
    const next = renewal.versions.next;
    assert.ok(
      next?.version && next.version !== held && next.version !== deployed.version,
      JSON.stringify(next),
    );
    assert.deepEqual(await world.served(HOST), [next.thumbprint]);
  });
});
