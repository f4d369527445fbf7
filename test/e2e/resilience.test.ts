/**
 * End to end, the hard cases: secrets never leave the activity that writes them (Durable history,
 * Azurite tables, host logs, audit records, outcome events), the host killed mid-rollout and
 * restarted, two certificates on one APIM service at once, 429 storms and 5xx from ARM, a Secret
 * changed by hand repaired by the drift timer, and a steady stream of requests through the chain
 * during a rollout with zero failures.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TableServiceClient, TableClient } from "@azure/data-tables";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { STREAMED } from "../../emulator/lab/core/http.js";
import { rotationInstanceId } from "../../src/domain/instanceIds.js";
import type { RolloutReport } from "../../src/domain/report.js";
import { explain, fireDriftTimer, listInstances, startRollout } from "../support/e2e.js";
import { tlsPair } from "../support/labBindings.js";
import { assertNoPrivateKey } from "../support/secretScan.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";

describe("resilience", () => {
  let world: World;
  let conflicts: string[] = [];
  before(async () => {
    world = await startWorld({ subscribeEvents: false, frontDoorDelayMs: 1500 });
    world.lab.ctx.servers.arm.router.use(async (req, next) => {
      const res = await next();
      if (res !== STREAMED && res.status === 409) conflicts.push(`${req.method} ${req.path}`);
      return res;
    });
  });
  after(async () => {
    if (process.env.E2E_LOGS) {
      console.log(world?.logs());
      for (const i of await listInstances(world))
        if (i.instanceId.startsWith("drift:")) console.log(JSON.stringify(i.output, null, 1));
    }
    await world?.stop();
  });

  const start = (body: Record<string, unknown>) => startRollout(world, { vault: VAULT, ...body });

  it("keeps every private key out of history, tables, logs, audit and events", async () => {
    const name = "ingress-tls";
    const id = await start({ certificate: name, renew: true });
    const report = await world.waitForRollout(id);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    const secrets = new SecretClient(world.vaultUrl, new DefaultAzureCredential());
    const keys: string[] = [];
    for (const version of [report.versions.next?.version, report.versions.previous?.version]) {
      if (!version) continue;
      const secret = await secrets.getSecret(name, { version });
      keys.push(tlsPair(secret.value ?? "").key);
    }
    assert.ok(keys.length > 0);

    const places: [string, string][] = [];
    // Durable history of every instance, through the Durable HTTP API.
    const all = await listInstances(world);
    assert.ok(all.length >= 3, "the rotation, its stage and its target ran");
    for (const i of all)
      places.push([
        `history of ${i.instanceId}`,
        JSON.stringify(await world.status(i.instanceId, { history: true })),
      ]);
    // Every Azurite table, read directly.
    const service = TableServiceClient.fromConnectionString(world.azurite.connectionString, {
      allowInsecureConnection: true,
    });
    for await (const t of service.listTables()) {
      const table = TableClient.fromConnectionString(world.azurite.connectionString, t.name as string, {
        allowInsecureConnection: true,
      });
      const rows: unknown[] = [];
      for await (const e of table.listEntities()) rows.push(e);
      places.push([`table ${t.name}`, JSON.stringify(rows)]);
    }
    places.push(["host log", world.logs()]);
    places.push(["audit records", (await world.api("GET", "/api/rollouts")).text]);
    places.push([
      "outcome events",
      JSON.stringify((await world.lab.control("GET", "/lab/eventgrid/topics/rotation-outcomes/events")).body),
    ]);
    for (const key of keys) for (const [where, text] of places) assertNoPrivateKey(text, key, where);
    console.log(
      `secrets: scanned ${places.length} places (${places.reduce((n, p) => n + p[1].length, 0)} characters) for ${keys.length} keys: none found`,
    );
  });

  it("finishes a rollout when the host is killed mid-rollout and restarted", async () => {
    const name = "edge-contoso";
    const id = await start({ certificate: name, renew: true });
    await world.waitFor(
      "the Front Door stage to be applied",
      async () => {
        const r = (await world.api("GET", `/api/rollouts/${encodeURIComponent(id)}`)).body as RolloutReport;
        return r.stages?.some((s) => s.targets.some((t) => t.status === "applied")) ? true : undefined;
      },
      60_000,
    );
    await world.killHost();
    await world.startHost();
    const report = await world.waitForRollout(id);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    for (const t of await world.served("api.contoso.test")) assert.equal(t, report.versions.next?.thumbprint);
  });

  it("never overlaps updates of one APIM service across two rollouts (the lab sees no 409)", async () => {
    conflicts = [];
    const a = await start({ certificate: "apim-gateway", renew: true });
    const b = await start({ certificate: "apim-client", renew: true, targets: ["apim"] });
    const [ra, rb] = await Promise.all([world.waitForRollout(a), world.waitForRollout(b)]);
    assert.equal(ra.outcome?.state, "Succeeded", explain(ra));
    assert.equal(rb.outcome?.state, "Succeeded", explain(rb));
    assert.deepEqual(conflicts, [], "no ARM request was refused with 409");
  });

  it("finishes through 429 storms and 5xx from ARM", async () => {
    const rules = [
      { service: "arm", kind: "status", status: 429, retryAfterSeconds: 1, count: 6, match: "apiManagement" },
      { service: "arm", kind: "status", status: 503, count: 4, match: "Microsoft.ApiManagement" },
      { service: "arm", kind: "status", status: 500, count: 2, match: "Microsoft.ApiManagement" },
    ];
    for (const rule of rules) await world.lab.control("POST", "/lab/faults", rule);
    try {
      const id = await start({ certificate: "apim-gateway", renew: true });
      const report = await world.waitForRollout(id);
      assert.equal(report.outcome?.state, "Succeeded", explain(report));
      assert.ok(
        report.stages.some((st) => st.stage === "apim"),
        "the APIM stage ran (discovery was not fooled)",
      );
      assert.deepEqual(await world.served("apim.contoso.test"), [report.versions.next?.thumbprint]);
    } finally {
      await world.lab.control("DELETE", "/lab/faults?service=arm");
    }
  });

  it("serves every request through the chain during a rollout (zero failed requests)", async () => {
    const before = (await world.served("api.contoso.test"))[0] ?? "";
    let sent = 0;
    const failures: string[] = [];
    const edgeThumbprints = new Set<string>();
    let running = true;
    const stream = (async () => {
      while (running) {
        const answer = await world.requestThroughChain("/orders");
        sent++;
        if (!answer.ok) failures.push(`${answer.status ?? ""} ${answer.error ?? ""}`);
        const hop = (answer.body as { hops?: { hop: string }[] } | undefined)?.hops?.find(
          (h) => h.hop === "frontdoor",
        );
        for (const m of JSON.stringify(hop ?? {}).match(/[0-9A-F]{40}/g) ?? []) edgeThumbprints.add(m);
      }
    })();
    try {
      const id = await start({ certificate: "edge-contoso", renew: true });
      const report = await world.waitForRollout(id);
      assert.equal(report.outcome?.state, "Succeeded", explain(report));
      const after = report.versions.next?.thumbprint ?? "";
      await world.waitFor("a request served with the new edge certificate", () =>
        edgeThumbprints.has(after) ? true : undefined,
      );
      console.log(
        `steady stream: ${sent} requests through the chain during the rollout, ${failures.length} failed`,
      );
      assert.ok(edgeThumbprints.has(before), "requests went through before the switch");
    } finally {
      running = false;
      await stream;
    }
    assert.deepEqual(failures, []);
  });

  it("repairs a Secret changed by hand when the drift timer fires", async () => {
    const name = "ingress-tls";
    // A rollout of ours first, so the Secret records the vault version it carries.
    const first = await world.waitForRollout(await start({ certificate: name, renew: true }));
    assert.equal(first.outcome?.state, "Succeeded", explain(first));
    const thumbprint = first.versions.next?.thumbprint ?? "";
    // Someone replaces the Secret's certificate by hand with one of their own (trusted, right name).
    const own = await world.lab.ctx.pki.serverCertificate(["backend.contoso.test"]);
    const pem = { cert: own.chainPem, key: own.keyPem };
    const kube = world.lab.endpoints as unknown as { kubernetes: { server: string; staticToken: string } };
    const patch = await fetch(`${kube.kubernetes.server}/api/v1/namespaces/api/secrets/backend-tls`, {
      method: "PATCH",
      headers: {
        authorization: `Bearer ${kube.kubernetes.staticToken}`,
        "content-type": "application/merge-patch+json",
      },
      body: JSON.stringify({
        data: {
          "tls.crt": Buffer.from(pem.cert).toString("base64"),
          "tls.key": Buffer.from(pem.key).toString("base64"),
        },
      }),
    });
    assert.ok(patch.ok, `patching the Secret: ${patch.status} ${await patch.text()}`);
    await world.waitFor("the ingress to serve the hand-made certificate", async () =>
      (await world.served("backend.contoso.test"))[0] !== thumbprint ? true : undefined,
    );

    await fireDriftTimer(world);
    const id = rotationInstanceId({ vaultName: VAULT, certificateName: name });
    await world.waitFor(
      "the drift repair to finish",
      async () => {
        const s = await world.status(id);
        const r = s?.output as RolloutReport | undefined;
        return r?.trigger.kind === "drift" && r.outcome ? r : undefined;
      },
      90_000,
    );
    assert.deepEqual(
      await world.served("backend.contoso.test"),
      [thumbprint],
      "the vault's version is served again",
    );
  });
});
