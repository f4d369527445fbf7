/**
 * End to end through `POST /api/rollouts` (no Event Grid subscription, so versions created here
 * start nothing by themselves): request validation, a dry run, a given version to a subset of
 * targets, each preflight rejection, a probe failure that rolls back, and a rollback that cannot be
 * verified — observed by real TLS handshakes and requests through the lab's chain.
 */
import assert from "node:assert/strict";
import { createPrivateKey, webcrypto } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { RolloutReport } from "../../src/domain/report.js";
import { aLeaf, daysFrom } from "../support/certificateBuilders.js";
import { explain, holdFault, newVersion, outcomeEvents } from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";

describe("manual rollouts", () => {
  let world: World;
  before(async () => {
    world = await startWorld({ subscribeEvents: false });
  });
  after(async () => {
    await world?.stop();
  });

  const start = async (body: Record<string, unknown>) => {
    const answer = await world.api("POST", "/api/rollouts", { vault: VAULT, ...body });
    assert.equal(answer.status, 202, answer.text);
    const payload = answer.body as { id: string; statusQueryGetUri: string; reportUri: string };
    assert.ok(payload.statusQueryGetUri && payload.reportUri, "the status URL and the report URL");
    assert.ok(
      !answer.text.includes("/runtime/webhooks/durabletask") && !answer.text.includes(world.keys.durable),
      `no Durable system-key URL is handed out: ${answer.text}`,
    );
    return payload.id;
  };

  it("answers a bad body with a 400 that names the field", async () => {
    const cases: [unknown, string][] = [
      [{ vault: VAULT, certificate: "edge-contoso", targets: "apim" }, "targets"],
      [{ vault: VAULT, certificate: "edge contoso" }, "certificate"],
      [{ vault: VAULT, certificate: "edge-contoso", dryRun: "yes" }, "dryRun"],
      [{ vault: "kv-elsewhere", certificate: "edge-contoso" }, "vault"],
      [{ vault: VAULT, certificate: "edge-contoso", colour: "blue" }, "colour"],
      [{ certificate: "edge-contoso" }, "vault"],
    ];
    for (const [body, field] of cases) {
      const answer = await world.api("POST", "/api/rollouts", body);
      assert.equal(answer.status, 400, `${JSON.stringify(body)} → ${answer.text}`);
      assert.equal((answer.body as { error: { field: string } }).error.field, field, answer.text);
    }
  });

  it("dry run: plans and checks, changes nothing", async () => {
    const name = "edge-contoso";
    const served = await world.served("api.contoso.test");
    const v = await newVersion(world, name);
    const id = await start({ certificate: name, version: v.version, dryRun: true });
    const report = await world.waitForRollout(id);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    assert.equal(report.outcome?.reason, "DryRun");
    assert.ok(report.stages.length > 0, "the plan is in the report");
    assert.deepEqual(await world.served("api.contoso.test"), served, "nothing changed at the edge");
    const text = await world.api("GET", `/api/rollouts/${encodeURIComponent(id)}`, undefined, {
      accept: "text/plain",
    });
    assert.match(text.text, /dry run/i);
    const status = await world.api("GET", `/api/rollouts/${encodeURIComponent(id)}/status`);
    assert.equal(status.status, 200, status.text);
    assert.deepEqual(
      [(status.body as { runId: string }).runId, (status.body as { runtimeStatus: string }).runtimeStatus],
      [report.runId, "Completed"],
    );
  });

  it("dry run with renew: creates no version and says what it would renew", async () => {
    const name = "edge-contoso";
    const versions = async () => {
      const all: string[] = [];
      for await (const v of world.certificates.listPropertiesOfCertificateVersions(name))
        all.push(v.version ?? "");
      return all.sort();
    };
    const before = await versions();
    const current = (await world.certificates.getCertificate(name)).properties.version ?? "";
    const id = await start({ certificate: name, renew: true, dryRun: true });
    const report = await world.waitForRollout(id);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    assert.equal(report.dryRun, true);
    assert.deepEqual(await versions(), before, "no version was created in Key Vault");
    assert.match(report.outcome?.message ?? "", new RegExp(`would renew .*${current}`, "i"));
  });

  it("two requests for one certificate at once: one starts, the other is refused", async () => {
    const name = "edge-contoso";
    const body = { vault: VAULT, certificate: name, dryRun: true };
    const answers = await Promise.all([1, 2].map(() => world.api("POST", "/api/rollouts", body)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [202, 409], answers.map((a) => a.text).join("\n"));
    const won = answers.find((a) => a.status === 202)?.body as { id: string; requestId: string };
    const status = await world.status(won.id, { history: true });
    const input = status?.input as { trigger: { requestId: string } };
    assert.equal(input.trigger.requestId, won.requestId, "the instance runs the request that got the 202");
    await world.waitForRollout(won.id);
  });

  it("answers the inventory from one scan, reused while recent, renewed on request", async () => {
    const first = await world.api("GET", "/api/certificates");
    assert.equal(first.status, 200, first.text);
    const inventory = first.body as { scannedAt: string; certificates: { certificateName: string }[] };
    assert.ok(
      inventory.certificates.some((c) => c.certificateName === "edge-contoso"),
      "the inventory lists the certificates",
    );
    const again = await world.api("GET", "/api/certificates");
    assert.equal((again.body as { scannedAt: string }).scannedAt, inventory.scannedAt, "the recent scan");
    const scan = await world.status("inventory");
    assert.equal(scan?.runtimeStatus, "Completed", "one scan under a fixed id");
    const fresh = await world.api("GET", "/api/certificates?fresh=true");
    assert.equal(fresh.status, 200, fresh.text);
    assert.ok((fresh.body as { scannedAt: string }).scannedAt > inventory.scannedAt, "a new scan on request");
  });

  it("rolls out a given version to a subset of the targets", async () => {
    const name = "apim-client";
    const v = await newVersion(world, name);
    const id = await start({ certificate: name, version: v.version, targets: ["apim"] });
    const report = await world.waitForRollout(id);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    assert.deepEqual(
      report.stages.map((s) => s.stage),
      ["apim"],
      "only the APIM stage was planned",
    );
    // APIM now presents the new client certificate to the ingress, and the chain still works.
    const answer = await world.requestThroughChain("/health");
    assert.ok(answer.ok, JSON.stringify(answer));
    assert.ok(JSON.stringify(answer.body).includes(v.thumbprint), "APIM presents the new client certificate");
  });

  it("renews one certificate twice: two versions, two audit rows, two outcome events", async () => {
    const name = "ingress-tls";
    const id = await start({ certificate: name, renew: true });
    const first = await world.waitForRollout(id);
    assert.equal(await start({ certificate: name, renew: true }), id, "one instance id per certificate");
    const second = await world.waitForRollout(id);
    for (const r of [first, second]) assert.equal(r.outcome?.state, "Succeeded", explain(r));
    const runs = [first.runId, second.runId];
    assert.ok(
      runs.every((r) => r?.startsWith(`${id}@`)) && runs[0] !== runs[1],
      `run ids ${runs.join(", ")}`,
    );

    // Each renewal created its own version, tagged with its own run.
    const versions = [first.versions.next?.version, second.versions.next?.version];
    assert.ok(versions[0] && versions[1] && versions[0] !== versions[1], `versions ${versions.join(", ")}`);
    for (const [i, v] of versions.entries()) {
      const c = await world.certificates.getCertificateVersion(name, v as string);
      assert.equal(c.properties.tags?.["cert-rotation.e2e/rotation"], runs[i], `the tag of version ${v}`);
    }
    assert.deepEqual(await world.served("backend.contoso.test"), [second.versions.next?.thumbprint]);

    // Two audit rows, newest first; each run's report by its run id, the latest by the instance id.
    const audit = await world.api("GET", `/api/rollouts?certificate=${VAULT}/${name}`);
    assert.equal(audit.status, 200, audit.text);
    const rows = (audit.body as { value: { runId: string; newVersion: string }[] }).value;
    assert.deepEqual(
      rows.slice(0, 2).map((r) => [r.runId, r.newVersion]),
      [
        [runs[1], versions[1]],
        [runs[0], versions[0]],
      ],
    );
    for (const [i, run] of runs.entries()) {
      const shown = await world.api("GET", `/api/rollouts/${encodeURIComponent(run as string)}`);
      assert.equal(shown.status, 200, shown.text);
      assert.equal((shown.body as RolloutReport).versions.next?.version, versions[i]);
    }
    const latest = await world.api("GET", `/api/rollouts/${encodeURIComponent(id)}`);
    assert.equal((latest.body as RolloutReport).runId, runs[1]);

    // Two outcome events with distinct ids (a consumer deduplicating by source + id keeps both).
    const ids = (await outcomeEvents(world.lab)).filter((e) => e.data.instanceId === id).map((e) => e.id);
    assert.deepEqual(
      ids,
      runs.map((r) => `${r}:Succeeded`),
    );
  });

  for (const [title, reason, make] of [
    [
      "a SAN that misses the bound host",
      "SanMismatch",
      (w: World) =>
        w.certificates.getCertificatePolicy("apim-gateway").then(async (p) => {
          p.subject = "CN=wrong.contoso.test";
          p.subjectAlternativeNames = { dnsNames: ["wrong.contoso.test"] };
          const d = await (await w.certificates.beginCreateCertificate("apim-gateway", p)).pollUntilDone();
          return d.properties.version as string;
        }),
    ],
    ["an expired certificate", "Expired", (w: World) => importLeaf(w, "apim-gateway", -400, -10, "self")],
    ["an untrusted chain", "ChainUntrusted", (w: World) => importLeaf(w, "apim-gateway", -1, 300, "self")],
  ] as const) {
    it(`rejects ${title} and touches nothing`, async () => {
      const servedBefore = await world.served("apim.contoso.test");
      const version = await make(world);
      const id = await start({ certificate: "apim-gateway", version });
      const report = await world.waitForRollout(id);
      assert.equal(report.outcome?.state, "Rejected", explain(report));
      assert.ok(
        report.preflight?.failures.some((f) => f.reason === reason),
        `${reason} among ${JSON.stringify(report.preflight?.failures)}`,
      );
      assert.ok(report.stages.every((s) => s.targets.every((t) => t.status !== "applied")));
      assert.deepEqual(await world.served("apim.contoso.test"), servedBefore);
    });
  }

  it("rolls back when a hop never serves the new certificate, every target back on its previous one", async () => {
    const name = "ingress-tls";
    const host = "backend.contoso.test";
    const servedBefore = await world.served(host);
    const lift = await holdFault(world.lab, {
      service: "edge",
      kind: "neverPropagate",
      match: "ingress backend\\.contoso\\.test",
    });
    try {
      const v = await newVersion(world, name);
      const id = await start({ certificate: name, version: v.version });
      // One rollout per certificate: a second request while it runs is refused.
      const again = await world.api("POST", "/api/rollouts", {
        vault: VAULT,
        certificate: name,
        version: v.version,
      });
      assert.equal(again.status, 409, again.text);
      const report = await world.waitForRollout(id);
      assert.equal(report.outcome?.state, "RolledBack", explain(report));
      assert.ok(report.rollback?.actions.length && report.rollback.actions.every((a) => a.verified));
      assert.deepEqual(await world.served(host), servedBefore, "the previous certificate is served again");
    } finally {
      await lift();
    }
  });

  it("ends NeedsAttention when the rollback cannot be verified", async () => {
    const name = "ingress-tls";
    const lift = await holdFault(world.lab, {
      service: "edge",
      kind: "wrongCertificate",
      match: "ingress backend\\.contoso\\.test",
    });
    try {
      const v = await newVersion(world, name);
      const id = await start({ certificate: name, version: v.version });
      const report = await world.waitForRollout(id);
      assert.equal(report.outcome?.state, "NeedsAttention", explain(report));
      assert.match(report.outcome?.reason ?? "", /Rollback/);
    } finally {
      await lift();
    }
  });
});

/** Imports a self-signed (or otherwise untrusted) leaf for the gateway's host as a new version. */
async function importLeaf(
  w: World,
  name: string,
  fromDays: number,
  toDays: number,
  issuer: "self",
): Promise<string> {
  const now = new Date();
  const leaf = await aLeaf()
    .withDnsNames("apim.contoso.test")
    .withCommonName("apim.contoso.test")
    .validBetween(daysFrom(now, fromDays), daysFrom(now, toDays))
    .issuedBy(issuer)
    .build();
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", leaf.keys.privateKey));
  const keyPem = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })
    .export({ format: "pem", type: "pkcs8" })
    .toString();
  const imported = await w.certificates.importCertificate(name, Buffer.from(`${keyPem}${leaf.chainPem}`), {
    policy: { contentType: "application/x-pem-file", exportable: true },
  });
  return imported.properties.version as string;
}
