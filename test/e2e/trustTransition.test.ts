/**
 * End to end: a client-CA change. The APIM client certificate moves to a new issuing CA; the
 * Kubernetes stage runs first, so the ingress's `ca.crt` must trust the old and the new CA while
 * APIM still presents the old client certificate, and drop the old CA only after the APIM stage
 * succeeded — the mTLS hop APIM → ingress never breaks.
 */
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey, webcrypto } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { aLeaf, createIntermediateCa, daysFrom } from "../support/certificateBuilders.js";
import { explain, startRollout } from "../support/e2e.js";
import { labKubernetes } from "../support/labBindings.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";
const CLIENT = "apim-client";
const CA_SECRET = { namespace: "api", name: "apim-client-ca" };

/** Fingerprints of every certificate in a PEM bundle. */
const fingerprints = (pem: string): string[] =>
  [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
    (m) => new X509Certificate(m[0]).fingerprint256,
  );

describe("trust transitions", () => {
  let world: World;
  before(async () => {
    world = await startWorld({ subscribeEvents: false });
  });
  after(async () => {
    await world?.stop();
  });

  it("a client-CA change keeps both CAs in ca.crt until the APIM stage succeeded, then prunes the old one", async () => {
    const { core } = labKubernetes(world.lab);
    const caCrt = async () => {
      const s = await core.readNamespacedSecret(CA_SECRET);
      return Buffer.from(s.data?.["ca.crt"] ?? "", "base64").toString("utf8");
    };
    const oldCas = fingerprints(await caCrt());
    assert.ok(oldCas.length > 0, "the ingress trusts the lab root today");

    // A new issuing CA under the lab root, and the client certificate issued by it.
    const root = world.lab.ctx.pki.root;
    const issuing = await createIntermediateCa(
      { cert: root.certificate, keys: root.keys, pem: root.certPem },
      "CN=Contoso Client Issuing CA 2,O=Contoso Test",
    );
    const now = new Date();
    const leaf = await aLeaf()
      .withDnsNames("apim-client.contoso.test")
      .withCommonName("apim-client.contoso.test")
      .validBetween(daysFrom(now, -1), daysFrom(now, 200))
      .issuedBy(issuing)
      .build();
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", leaf.keys.privateKey));
    const keyPem = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })
      .export({ format: "pem", type: "pkcs8" })
      .toString();
    const imported = await world.certificates.importCertificate(
      CLIENT,
      Buffer.from(`${keyPem}${leaf.chainPem}`),
      { policy: { contentType: "application/x-pem-file", exportable: true } },
    );
    const version = imported.properties.version as string;
    const newCa = new X509Certificate(issuing.pem).fingerprint256;

    // Every state ca.crt goes through, as the lab's Kubernetes API sees our writes.
    const states: { at: string; cas: string[] }[] = [];
    world.lab.ctx.servers.kubernetes.router.use(async (req, next) => {
      const out = await next();
      if (req.method !== "GET" && req.method !== "HEAD" && req.path.endsWith(`/secrets/${CA_SECRET.name}`))
        states.push({ at: new Date().toISOString(), cas: fingerprints(await caCrt()) });
      return out;
    });

    const id = await startRollout(world, { vault: VAULT, certificate: CLIENT, version });
    const report = await world.waitForRollout(id);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    const apim = report.stages.find((s) => s.stage === "apim");
    assert.ok(apim?.finishedAt, "the APIM stage (the client certificate) ran");
    const shown = JSON.stringify(states);
    assert.deepEqual(
      [...(states[0]?.cas ?? [])].sort(),
      [newCa, ...oldCas].sort(),
      `the Kubernetes stage writes ca.crt with the new CA and the old one: ${shown} new ${newCa} old ${oldCas.join()}`,
    );
    const pruned = states.findIndex((s) => s.cas.length === 1 && s.cas[0] === newCa);
    assert.ok(pruned > 0, `then the old CA is pruned: ${shown}`);
    assert.ok(
      states[pruned]!.at >= apim.finishedAt,
      `the old CA is pruned only after the APIM stage succeeded (${apim.finishedAt}): ${shown}`,
    );
    assert.deepEqual(fingerprints(await caCrt()), [newCa], "in the end ca.crt trusts the new CA only");
    const answer = await world.requestThroughChain("/health");
    assert.ok(answer.ok, `the mTLS hop works with the new client certificate: ${JSON.stringify(answer)}`);
  });
});
