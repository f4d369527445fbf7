/**
 * End to end: where a certificate may be written (`WRITE_POLICY`). The lab's policy lets the vault's
 * private keys go to namespace `api` only; anyone who may create a Secret in the other scanned
 * namespace (`ops`) can annotate it with a vault certificate and a stale version, and must get
 * nothing: the rollout writes the allowed Secret, never the foreign one, and names it as ignored.
 */
import assert from "node:assert/strict";
import { createPrivateKey, webcrypto } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { RolloutReport } from "../../src/domain/report.js";
import { aLeaf } from "../support/certificateBuilders.js";
import { explain, newVersion, startRollout } from "../support/e2e.js";
import { createTlsSecret, labKubernetes } from "../support/labBindings.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";
const CERTIFICATE = "ingress-tls";
const FOREIGN = { namespace: "ops", name: "grab-ingress-key" };

describe("write policy", () => {
  let world: World;
  before(async () => {
    world = await startWorld({ subscribeEvents: false });
  });
  after(async () => {
    await world?.stop();
  });

  it("a Secret annotated outside the policy never receives a key, and the report names it as ignored", async () => {
    // Someone with Secret rights in `ops` (scanned, but not in the policy) asks for the ingress key.
    const self = await aLeaf().withDnsNames("grab.contoso.test").issuedBy("self").build();
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", self.keys.privateKey));
    const key = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })
      .export({ format: "pem", type: "pkcs8" })
      .toString();
    const { core } = labKubernetes(world.lab);
    await createTlsSecret(core, {
      ...FOREIGN,
      annotations: {
        "cert-rotation.e2e/certificate": `${VAULT}/${CERTIFICATE}`,
        "cert-rotation.e2e/version": "0000stale0000",
      },
      pair: { cert: self.chainPem, key },
    });
    const before = await core.readNamespacedSecret(FOREIGN);

    const v = await newVersion(world, CERTIFICATE);
    const id = await startRollout(world, { vault: VAULT, certificate: CERTIFICATE, version: v.version });
    const report: RolloutReport = await world.waitForRollout(id);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    assert.deepEqual(
      await world.served("backend.contoso.test"),
      [v.thumbprint],
      "the allowed Secret was written",
    );

    const after = await core.readNamespacedSecret(FOREIGN);
    // Compared as a boolean: a failure must not print the key it leaked.
    assert.ok(
      after.data?.["tls.key"] === before.data?.["tls.key"],
      "tls.key of the foreign Secret is untouched",
    );
    assert.equal(
      after.metadata?.resourceVersion,
      before.metadata?.resourceVersion,
      "nothing was written to it",
    );
    const targets = report.stages.flatMap((s) => s.targets.map((t) => t.description)).join("\n");
    assert.ok(!targets.includes(FOREIGN.name), `no target names the foreign Secret:\n${targets}`);
    const ignored = (report.ignored ?? []).find((i) =>
      i.message.includes(`${FOREIGN.namespace}/${FOREIGN.name}`),
    );
    assert.ok(ignored, `the report names it as ignored: ${JSON.stringify(report.ignored)}`);
    assert.equal(ignored.reason, "OutsideWritePolicy");

    const text = await world.api("GET", `/api/rollouts/${encodeURIComponent(id)}`, undefined, {
      accept: "text/plain",
    });
    assert.match(text.text, new RegExp(`Ignored .*${FOREIGN.namespace}/${FOREIGN.name}`));
    const inventory = await world.api("GET", "/api/certificates?fresh=true");
    assert.equal(inventory.status, 200, inventory.text);
    assert.match(
      JSON.stringify((inventory.body as { ignored?: unknown }).ignored ?? []),
      new RegExp(`${FOREIGN.namespace}/${FOREIGN.name}`),
      "the inventory names it too",
    );
  });
});
