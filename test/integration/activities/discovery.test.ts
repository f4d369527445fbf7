/**
 * Discovery and reads against the lab: every seeded binding of every certificate is found across
 * Front Door, APIM and the cluster, a bindings file adds (and overrides) bindings, and a bad file or
 * an unreadable scope is a warning that hides nothing else.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { discoverAllBindingsHandler } from "../../../src/activities/discoverAllBindings.js";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import { readDeployedHandler } from "../../../src/activities/readDeployed.js";
import { resolveBindingsHandler } from "../../../src/activities/resolveBindings.js";
import { describeBinding } from "../../../src/domain/bindings.js";
import { SEED, apimServiceId, frontDoorProfileId, clusterId, vaultId } from "../../../emulator/lab/seed.js";
import { startActivityWorld, type ActivityWorld } from "./activitySupport.js";

let w: ActivityWorld;
let dir: string;
before(async () => {
  w = await startActivityWorld();
  dir = mkdtempSync(join(tmpdir(), "bindings-"));
});
after(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await w?.dispose();
});

const vaultName = SEED.vault.name;
const C = SEED.certificates;

test("discovery finds every seeded binding of every certificate", async () => {
  const r = await discoverAllBindingsHandler({}, w.context());
  assert.deepEqual(r.warnings, []);
  const seen = r.bindings.map((b) => `${b.certificate.certificateName}: ${describeBinding(b)}`).sort();
  assert.deepEqual(seen, [
    `${C.client.name}: APIM ${SEED.apim.service} certificate ${SEED.apim.clientCertificateId} (backends ${SEED.apim.backend})`,
    `${C.client.name}: Kubernetes Secret api/${SEED.cluster.ingress.clientCaSecret} in ${clusterId()} (ca.crt)`,
    `${C.apim.name}: APIM ${SEED.apim.service} Proxy hostname apim.contoso.test`,
    `${C.edge.name}: Front Door profile ${SEED.frontDoor.profile} secret ${SEED.frontDoor.secret} (api.contoso.test)`,
    `${C.ingress.name}: Kubernetes Secret api/${SEED.cluster.ingress.secret} in ${clusterId()} (tls.crt/tls.key)`,
  ]);
  const ingress = r.bindings.find((b) => b.kind === "kubernetesSecret" && b.role === "tls");
  assert.deepEqual(ingress?.kind === "kubernetesSecret" && ingress.ingressHosts, ["backend.contoso.test"]);
});

test("resolveBindings keeps only the certificate's bindings; the bindings file adds and overrides", async () => {
  const r = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName: C.client.name.toUpperCase() } },
    w.context(),
  );
  assert.deepEqual(r.bindings.map((b) => b.kind).sort(), ["apimCertificate", "kubernetesSecret"]);
  const file = join(dir, "bindings.yaml");
  writeFileSync(
    file,
    [
      "bindings:",
      `  - kind: apimHostname`,
      `    certificate: ${vaultName}/${C.client.name}`,
      `    serviceId: ${apimServiceId()}`,
      `    hostName: portal.contoso.test`,
      `    hostnameType: Portal`,
      `  - kind: frontDoorSecret`,
      `    certificate: ${vaultName}/${C.edge.name}`,
      `    profileId: ${frontDoorProfileId()}`,
      `    secretName: ${SEED.frontDoor.secret}`,
      `    customDomains: [{ name: api-contoso-test, hostName: api.contoso.test }]`,
      `    probeHostNames: [edge-check.contoso.test]`,
    ].join("\n"),
  );
  w.reconfigure({ overrides: { BINDINGS_FILE: file } });
  const withFile = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName: C.client.name } },
    w.context(),
  );
  assert.deepEqual(withFile.bindings.map((b) => `${b.kind}:${b.source}`).sort(), [
    "apimCertificate:discovered",
    "apimHostname:explicit",
    "kubernetesSecret:discovered",
  ]);
  const edge = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName: C.edge.name } },
    w.context(),
  );
  assert.equal(edge.bindings.length, 1);
  assert.equal(edge.bindings[0]?.source, "explicit", "the explicit binding replaces the discovered one");
});

test("a bindings file that does not validate is a warning naming the field; discovery still answers", async () => {
  const file = join(dir, "bad.json");
  writeFileSync(
    file,
    JSON.stringify({
      bindings: [{ kind: "apimHostname", certificate: "kv/x", serviceId: "nope", hostName: "a.b" }],
    }),
  );
  w.reconfigure({ overrides: { BINDINGS_FILE: file } });
  const r = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName: C.ingress.name } },
    w.context(),
  );
  assert.equal(r.bindings.length, 1);
  assert.equal(r.warnings[0]?.reason, "BindingsFileInvalid");
  assert.match(r.warnings[0].message, /bindings\[0\]\.serviceId/);
  w.reconfigure({});
});

test("an unreadable APIM service blocks only the certificates it might bind; an unreadable namespace blocks all", async () => {
  const forbidden = w.lab.ctx.faults.add({
    service: "arm",
    kind: "status",
    status: 403,
    code: "AuthorizationFailed",
    match: `^GET .*/service/${SEED.apim.service}`,
  });
  const resolve = (certificateName: string) =>
    resolveBindingsHandler({ certificate: { vaultName, certificateName } }, w.context());
  try {
    // Nothing declared: the service might reference any certificate, so even the ingress's waits.
    const undeclared = await resolve(C.ingress.name);
    assert.equal(undeclared.warnings.length, 1, JSON.stringify(undeclared));
    assert.match(undeclared.warnings[0]!.message, new RegExp(SEED.apim.service));

    // The bindings file says what the service can reference: other certificates are not blocked.
    const file = join(dir, "references.yaml");
    writeFileSync(
      file,
      [
        "bindings: []",
        "references:",
        `  - resource: ${apimServiceId()}`,
        `    certificates: [${vaultName}/${C.apim.name}, ${vaultName}/${C.client.name}]`,
      ].join("\n"),
    );
    w.reconfigure({ overrides: { BINDINGS_FILE: file } });
    const ingress = await resolve(C.ingress.name);
    assert.deepEqual(ingress.warnings, [], "the ingress certificate cannot be bound there");
    assert.equal(ingress.bindings.length, 1, "its Kubernetes binding is found");
    assert.match(ingress.unrelated?.[0]?.message ?? "", new RegExp(SEED.apim.service), "named as unrelated");
    const client = await resolve(C.client.name);
    assert.equal(client.warnings.length, 1, "apim-client may be bound there: blocked");
    assert.match(client.warnings[0]!.message, new RegExp(SEED.apim.service));
  } finally {
    w.lab.ctx.faults.remove(forbidden.id);
  }

  // A namespace that cannot be listed may hold an annotated Secret for any certificate.
  const secrets = w.lab.ctx.faults.add({
    service: "kubernetes",
    kind: "status",
    status: 503,
    match: "GET .*/secrets",
  });
  try {
    const edge = await resolve(C.edge.name);
    assert.ok(edge.warnings.length > 0, JSON.stringify(edge));
    assert.equal(edge.unrelated, undefined);
  } finally {
    w.lab.ctx.faults.remove(secrets.id);
    w.reconfigure({});
  }
});

test("readCertificate gives the public facts and the vault's ARM id; an unknown one is not found", async () => {
  const r = await readCertificateHandler({ vaultName, certificateName: C.edge.name }, w.context());
  assert.equal(r.found, true);
  if (!r.found) return;
  assert.match(r.thumbprint, /^[0-9A-F]{40}$/);
  assert.equal(r.issuerKind, "Integrated");
  assert.equal(r.vaultResourceId?.toLowerCase(), vaultId().toLowerCase());
  const missing = await readCertificateHandler({ vaultName, certificateName: "nope" }, w.context());
  assert.deepEqual(missing.found === false && missing.reason, "CertificateNotFound");
  const foreign = await readCertificateHandler({ vaultName: "kv-other", certificateName: "x" }, w.context());
  assert.deepEqual(foreign.found === false && foreign.reason, "VaultNotAllowed");
});

test("readDeployed reads the thumbprint each seeded binding is configured with", async () => {
  const all = await discoverAllBindingsHandler({}, w.context());
  const d = await readDeployedHandler({ bindings: all.bindings }, w.context());
  const byCert = new Map<string, string | undefined>();
  all.bindings.forEach((b, i) =>
    byCert.set(`${b.kind}:${b.certificate.certificateName}`, d.deployed[i]?.thumbprint),
  );
  for (const [key, certName] of [
    ["kubernetesSecret:ingress-tls", C.ingress.name],
    ["apimHostname:apim-gateway", C.apim.name],
    ["frontDoorSecret:edge-contoso", C.edge.name],
  ] as const) {
    const cur = await readCertificateHandler({ vaultName, certificateName: certName }, w.context());
    assert.equal(byCert.get(key), cur.found ? cur.thumbprint : "missing", key);
  }
});
