/**
 * End to end, expiry is never dropped: a NearExpiry that arrives while a rollout which does not
 * replace the expiring version runs is delivered again by Event Grid and renews after it, and the
 * drift scan renews a current version that expires within PREFLIGHT_MIN_VALIDITY_DAYS (ExpiringSoon)
 * — each observed by real TLS handshakes at the lab's hops.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { rotationInstanceId } from "../../src/domain/instanceIds.js";
import type { RolloutReport } from "../../src/domain/report.js";
import { daysFrom } from "../support/certificateBuilders.js";
import { currentVersion, durableOperation, explain, fireDriftTimer } from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";
const NAME = "ingress-tls";
const HOST = "backend.contoso.test";

describe("expiry", () => {
  let world: World;
  before(async () => {
    world = await startWorld();
    // Event Grid's retry schedule (10 s, 30 s, 1 m, …) at a tenth.
    await world.lab.control("POST", "/lab/eventgrid/settings", { retryScale: 0.1 });
  });
  after(async () => {
    await world?.stop();
  });

  const id = rotationInstanceId({ vaultName: VAULT, certificateName: NAME });
  /** Polls until the certificate's instance holds a finished report that `match` accepts. */
  const finished = (what: string, match: (r: RolloutReport) => boolean, timeoutMs = 90_000) =>
    world.waitFor(
      what,
      async () => {
        const s = await world.status(id);
        const r = s?.output as RolloutReport | undefined;
        return s?.runtimeStatus === "Completed" && r?.outcome && match(r) ? r : undefined;
      },
      timeoutMs,
    );

  it("delivers a near-expiry again when it arrives during a dry run, and renews after it", async () => {
    const expiring = await currentVersion(world, NAME);
    // Key Vault answers the dry run's first read of the certificate slowly, and the dry run is
    // suspended meanwhile: it counts as running until it is resumed.
    await world.lab.control("POST", "/lab/faults", {
      service: "keyvault",
      kind: "latency",
      latencyMs: 5000,
      match: `GET /certificates/${NAME}`,
      count: 1,
    });
    const dry = await world.api("POST", "/api/rollouts", { vault: VAULT, certificate: NAME, dryRun: true });
    assert.equal(dry.status, 202, dry.text);
    await durableOperation(world, id, "suspend");
    await world.waitFor("the dry run to be suspended", async () =>
      (await world.status(id))?.runtimeStatus === "Suspended" ? true : undefined,
    );
    const eventId = await world.emitKeyVaultEvent("CertificateNearExpiry", NAME, expiring.version);

    await world.waitFor("the delivery during the dry run to fail", () =>
      new RegExp(`Event ${eventId} .*does not replace the expiring version`).test(world.logs())
        ? true
        : undefined,
    );
    await durableOperation(world, id, "resume");
    const dryRun = await finished("the dry run", (r) => r.dryRun);
    assert.equal(dryRun.outcome?.state, "Succeeded", explain(dryRun));
    const renewal = await finished("the renewal started by the redelivered event", (r) =>
      r.trigger.detail.includes(`(event ${eventId})`),
    );
    assert.equal(renewal.outcome?.state, "Succeeded", explain(renewal));
    const next = renewal.versions.next;
    assert.ok(next?.version && next.version !== expiring.version, "a new version was rolled out");
    assert.deepEqual(await world.served(HOST), [next.thumbprint]);
  });

  it("renews a current version that expires within the minimum validity when the drift timer fires", async (t) => {
    // A version valid for ten more days becomes current (its own NewVersionCreated rollout is
    // rejected by preflight: it expires too soon); renewals keep the 12-month policy. Its
    // NearExpiry never reaches the app (the vault sends it only 5 days before expiry here, as if the
    // event had been lost), so only the drift timer can notice: otherwise the event would race it.
    const setNearExpiryDays = async (days: number) => {
      const answer = await world.lab.control("POST", "/lab/keyvault/settings", { nearExpiryDays: days });
      assert.ok(answer.status < 300, JSON.stringify(answer.body));
    };
    await setNearExpiryDays(5);
    t.after(() => setNearExpiryDays(30));
    const short = await importShortLived(world, 10);
    const rejected = await finished("the rollout of the short-lived version", (r) =>
      r.trigger.detail.includes(short),
    );
    assert.equal(rejected.outcome?.state, "Rejected", explain(rejected));
    const servedBefore = await world.served(HOST);

    await fireDriftTimer(world);
    const renewal = await finished("the drift scan's renewal", (r) => r.trigger.kind === "drift");
    assert.equal(renewal.outcome?.state, "Succeeded", explain(renewal));
    assert.match(renewal.trigger.detail, /ExpiringSoon|expires at .* within 30 days/);
    const next = renewal.versions.next;
    assert.ok(next?.version && next.version !== short, "the expiring version was renewed");
    const renewed = await world.certificates.getCertificateVersion(NAME, next.version);
    assert.equal(renewed.properties.tags?.["cert-rotation.e2e/rotation"], renewal.runId);
    assert.ok(
      (renewed.properties.expiresOn?.getTime() ?? 0) > daysFrom(new Date(), 60).getTime(),
      "the new version has the policy's validity",
    );
    const servedAfter = await world.served(HOST);
    assert.notDeepEqual(servedAfter, servedBefore);
    assert.deepEqual(servedAfter, [next.thumbprint]);
  });
});

/**
 * Imports a lab-CA leaf for the ingress host valid `days` more days as the current version; the
 * policy is put back as it was (its issuer and validity), so renewals issue as before.
 */
async function importShortLived(w: World, days: number): Promise<string> {
  const policy = await w.certificates.getCertificatePolicy(NAME);
  const now = new Date();
  const leaf = await w.lab.ctx.pki.issue({
    subject: `CN=${HOST}`,
    names: [HOST],
    notBefore: daysFrom(now, -1),
    notAfter: daysFrom(now, days),
  });
  const imported = await w.certificates.importCertificate(
    NAME,
    Buffer.from(`${leaf.keyPem}${leaf.chainPem}`),
    {
      policy: { ...policy, contentType: "application/x-pem-file" },
    },
  );
  await w.certificates.updateCertificatePolicy(NAME, policy);
  return imported.properties.version as string;
}
