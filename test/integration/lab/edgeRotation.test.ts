/**
 * Rotation through the real management plane, observed on the data plane with real TLS handshakes:
 * Key Vault versions through @azure/keyvault-certificates, Front Door through @azure/arm-cdn, APIM
 * through @azure/arm-apimanagement, the ingress Secret through kubectl; then requests through the
 * whole chain Front Door → APIM → ingress → backend, including the failures a bad certificate causes.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { DefaultAzureCredential } from "@azure/identity";
import { CertificateClient } from "@azure/keyvault-certificates";
import { startTestLab, type TestLab } from "../../support/lab.js";
import { armApi } from "../../../emulator/lab/arm/api.js";
import { KEYVAULT_API, type KeyVaultApi } from "../../../emulator/lab/keyvault/api.js";
import type { Edge } from "../../../emulator/lab/edge/edge.js";
import { EDGE_REGISTRY } from "../../../emulator/lab/edge/service.js";
import {
  createCertificateAuthority,
  issueCertificate,
  type CertificateAuthority,
} from "../../../emulator/lab/core/pki.js";
import { apimClient, cdnClient, newKeyVaultVersion } from "./armClients.js";
import { getByName, healthDocumentIn, healthOf, pollUntil, servedThumbprint } from "./edgeSupport.js";

const run = promisify(execFile);
const poll = { updateIntervalInMs: 20 };
const WEST_MS = 100;
const EAST_MS = 400;

let lab: TestLab;
let ca: string;
let edge: Edge;
let foreignCa: CertificateAuthority;

const seed = () => lab.ctx.seed;
const kv = () => lab.ctx.registry.get(KEYVAULT_API) as KeyVaultApi;
const arm = () => armApi(lab.ctx.registry)!;
const API = () => seed().certificates.edge.hosts[0];
const APIM = () => seed().certificates.apim.hosts[0];
const BACKEND = () => seed().certificates.ingress.hosts[0];
const fd = (location: "westeurope" | "eastus") => edge.frontDoor.port(location)!;
const thumbprintOf = (name: string, version?: string) =>
  (version
    ? kv()
        .versions(seed().vault.name, name)
        .find((v) => v.version === version)
    : kv().currentVersion(seed().vault.name, name))!.thumbprint;
const certificates = () =>
  new CertificateClient((lab.endpoints.keyVault as { url: string }).url, new DefaultAzureCredential());

/** Imports a PEM certificate + key as a new version of a Key Vault certificate; returns the version. */
async function importVersion(name: string, certPem: string, keyPem: string): Promise<string> {
  const imported = await certificates().importCertificate(name, Buffer.from(`${keyPem}${certPem}`), {
    policy: { contentType: "application/x-pem-file" },
  });
  return imported.properties.version!;
}

/** Points the APIM gateway host name at a Key Vault version (GET, change one entry, PATCH the whole array). */
async function setApimHostnameVersion(version: string): Promise<void> {
  const client = apimClient(lab);
  const { resourceGroup, apim } = { resourceGroup: seed().resourceGroup, apim: seed().apim };
  const service = await client.apiManagementService.get(resourceGroup, apim.service);
  const secretUrl = kv()
    .versions(seed().vault.name, seed().certificates.apim.name)
    .find((v) => v.version === version)!.secretId;
  const hostnameConfigurations = service.hostnameConfigurations!.map((h) =>
    h.hostName === APIM() ? { ...h, keyVaultId: secretUrl, certificate: undefined } : h,
  );
  await client.apiManagementService.beginUpdateAndWait(
    resourceGroup,
    apim.service,
    { hostnameConfigurations },
    poll,
  );
}

/** Points APIM's client certificate entity at a Key Vault version. */
async function setClientCertificateVersion(version: string): Promise<void> {
  const secretUrl = kv()
    .versions(seed().vault.name, seed().certificates.client.name)
    .find((v) => v.version === version)!.secretId;
  await apimClient(lab).certificate.createOrUpdate(
    seed().resourceGroup,
    seed().apim.service,
    seed().apim.clientCertificateId,
    { keyVault: { secretIdentifier: secretUrl } },
    { ifMatch: "*" },
  );
}

/** The Key Vault version APIM serves for its gateway host name now (not the vault's latest). */
const deployedGatewayVersion = () =>
  arm()
    .apimGateways()[0]!
    .hostnames.find((h) => h.hostName === APIM())!.keyVault!.version!;
/** The Key Vault version of APIM's client certificate entity now. */
const deployedClientVersion = () =>
  arm().apimGateways()[0]!.backends[0]!.clientCertificates[0]!.keyVault!.version!;

/** Waits until a request through the whole chain succeeds again (after a restore). */
async function chainHealthy(): Promise<void> {
  const healthy = await pollUntil(
    () => getByName(fd("westeurope"), API(), ca),
    (a) => a.status === 200,
    3_000,
  );
  assert.equal(healthy.value.status, 200, String(healthy.value.headers["x-lab-error-detail"]));
}

before(async () => {
  lab = await startTestLab();
  // New Key Vault versions are made in a few tests only to have one; the lab's default issuance time
  // (1.5 s, Key Vault's pending operation, covered by the Key Vault tests) would only add waiting.
  assert.equal((await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 50 })).status, 200);
  ca = readFileSync(lab.ctx.pki.caCertPath, "utf8");
  edge = lab.ctx.registry.get(EDGE_REGISTRY) as Edge;
  foreignCa = await createCertificateAuthority("Untrusted Corp CA");
  assert.equal(
    (
      await lab.control("POST", "/lab/arm/settings", {
        frontDoorOperationMs: 50,
        frontDoorDeploymentMs: 300,
        apimUpdateMs: 400,
      })
    ).status < 300,
    true,
  );
  assert.equal(
    (await lab.control("PUT", "/lab/edge/frontDoor/locations/westeurope", { propagationDelayMs: WEST_MS }))
      .status,
    200,
  );
  assert.equal(
    (await lab.control("PUT", "/lab/edge/frontDoor/locations/eastus", { propagationDelayMs: EAST_MS }))
      .status,
    200,
  );
});
after(() => lab?.dispose());

test("endpoints.json maps every seeded host name to its hop and locations, and the seeded chain answers", async () => {
  const map = (lab.endpoints.edge as { hosts: Record<string, Record<string, string>> }).hosts;
  assert.deepEqual(Object.keys(map[API()]!).sort(), ["frontDoor/eastus", "frontDoor/westeurope"]);
  assert.equal(map[APIM()]!.apim, `127.0.0.1:${edge.apim.port}`);
  assert.equal(map[BACKEND()]!.ingress, `127.0.0.1:${edge.ingress.port}`);
  assert.equal(await servedThumbprint(fd("westeurope"), API()), thumbprintOf(seed().certificates.edge.name));
  assert.equal(await servedThumbprint(edge.apim.port, APIM()), thumbprintOf(seed().certificates.apim.name));
  const answer = await getByName(fd("westeurope"), API(), ca);
  assert.equal(answer.status, 200, String(answer.headers["x-lab-error-detail"]));
  assert.equal(healthOf(answer).hops[1]?.clientCertificate, thumbprintOf(seed().certificates.client.name));
  assert.equal(healthOf(answer).clientCertificate?.verify, "SUCCESS");
});

test("Front Door: each edge location switches after the deployment finished, at its own time", async () => {
  const s = seed();
  const { resourceGroup: rg } = s;
  const profile = s.frontDoor.profile;
  const domain = Object.keys(s.frontDoor.customDomains)[0]!;
  const old = thumbprintOf(s.certificates.edge.name);
  const version = await newKeyVaultVersion(lab, s.certificates.edge.name);
  const next = thumbprintOf(s.certificates.edge.name, version);
  assert.notEqual(next, old);
  const cdn = cdnClient(lab);
  const secretSource = { id: arm().frontDoorDomain(API())!.certificate!.keyVault.armId };
  const secret = await cdn.secrets.beginCreateAndWait(
    rg,
    profile,
    `edge-contoso-${version.slice(0, 8)}`,
    {
      parameters: {
        type: "CustomerCertificate",
        secretSource,
        secretVersion: version,
        useLatestVersion: false,
      },
    },
    poll,
  );
  assert.equal(await servedThumbprint(fd("westeurope"), API()), old, "a new secret alone changes nothing");
  await cdn.afdCustomDomains.beginUpdateAndWait(
    rg,
    profile,
    domain,
    {
      tlsSettings: {
        certificateType: "CustomerCertificate",
        minimumTlsVersion: "TLS12",
        secret: { id: secret.id! },
      },
    },
    poll,
  );
  // The PATCH is done, the deployment (300 ms) is not: both locations still serve the old certificate.
  assert.equal(await servedThumbprint(fd("westeurope"), API()), old);
  assert.equal(await servedThumbprint(fd("eastus"), API()), old);
  const [west, east] = await Promise.all([
    pollUntil(
      () => servedThumbprint(fd("westeurope"), API()),
      (t) => t === next,
      5_000,
    ),
    pollUntil(
      () => servedThumbprint(fd("eastus"), API()),
      (t) => t === next,
      5_000,
    ),
  ]);
  assert.ok(west.ok && east.ok, "both locations serve the new certificate in the end");
  const effective = Date.parse(arm().frontDoorDomain(API())!.effectiveSince) - lab.ctx.clock.offset;
  assert.equal(arm().frontDoorDomain(API())!.certificate!.keyVault.version, version);
  assert.ok(
    west.at - effective >= WEST_MS,
    `westeurope flipped ${west.at - effective} ms after the deployment finished`,
  );
  assert.ok(
    east.at - effective >= EAST_MS,
    `eastus flipped ${east.at - effective} ms after the deployment finished`,
  );
  assert.ok(
    east.at - west.at >= (EAST_MS - WEST_MS) / 2,
    `the locations flipped ${east.at - west.at} ms apart`,
  );
  assert.equal((await getByName(fd("eastus"), API(), ca)).status, 200);
});

test("APIM: the gateway serves the new host name certificate only once the service update completed", async () => {
  const s = seed();
  const old = thumbprintOf(s.certificates.apim.name);
  const version = await newKeyVaultVersion(lab, s.certificates.apim.name);
  const next = thumbprintOf(s.certificates.apim.name, version);
  const client = apimClient(lab);
  const service = await client.apiManagementService.get(s.resourceGroup, s.apim.service);
  const secretUrl = kv()
    .versions(s.vault.name, s.certificates.apim.name)
    .find((v) => v.version === version)!.secretId;
  const poller = await client.apiManagementService.beginUpdate(
    s.resourceGroup,
    s.apim.service,
    {
      hostnameConfigurations: service.hostnameConfigurations!.map((h) =>
        h.hostName === APIM() ? { ...h, keyVaultId: secretUrl, certificate: undefined } : h,
      ),
    },
    poll,
  );
  // Sample the gateway while the update runs; compare each handshake with when the update completed.
  const samples: Array<{ end: number; thumbprint: string | undefined }> = [];
  let done = false;
  const sampler = (async () => {
    while (!done)
      samples.push({ thumbprint: await servedThumbprint(edge.apim.port, APIM()), end: Date.now() });
  })();
  await poller.pollUntilDone();
  done = true;
  await sampler;
  const effective = Date.parse(arm().apimGateways()[0]!.effectiveSince) - lab.ctx.clock.offset;
  const during = samples.filter((x) => x.end < effective);
  assert.ok(during.length > 0, "the gateway was observed during the update");
  assert.deepEqual(
    [...new Set(during.map((x) => x.thumbprint))],
    [old],
    "while the update runs, the gateway keeps the old certificate",
  );
  const flipped = await pollUntil(
    () => servedThumbprint(edge.apim.port, APIM()),
    (t) => t === next,
    1_000,
  );
  assert.ok(flipped.ok, "right after the update completed, the gateway serves the new certificate");
  assert.equal(healthOf(await getByName(fd("westeurope"), API(), ca)).hops[0]?.originCertificate, next);
});

test("ingress: a Secret written with kubectl is served within a second", async () => {
  const s = seed();
  const issued = await lab.ctx.pki.issue({ subject: `CN=${BACKEND()}`, names: [BACKEND()] });
  const patch = JSON.stringify({
    data: {
      "tls.crt": Buffer.from(issued.chainPem).toString("base64"),
      "tls.key": Buffer.from(issued.keyPem).toString("base64"),
    },
  });
  const next = issued.certificate.toString("pem");
  const nextThumb = new X509Certificate(next).fingerprint.replace(/:/g, "");
  await run("kubectl", [
    "--kubeconfig",
    lab.endpoints.kubeconfig as string,
    "-n",
    s.cluster.ingress.namespace,
    "patch",
    "secret",
    s.cluster.ingress.secret,
    "--type",
    "merge",
    "-p",
    patch,
  ]);
  const written = Date.now();
  const flipped = await pollUntil(
    () => servedThumbprint(edge.ingress.port, BACKEND()),
    (t) => t === nextThumb,
    2_000,
  );
  assert.ok(flipped.ok, "the ingress serves the new Secret");
  assert.ok(flipped.at - written < 1_000, `it took ${flipped.at - written} ms`);
  const answer = await getByName(fd("westeurope"), API(), ca);
  assert.equal(healthOf(answer).hops[1]?.backendCertificate, nextThumb);
});

test("client certificate: APIM presents the new version of its certificates entity to the ingress", async () => {
  const s = seed();
  const version = await newKeyVaultVersion(lab, s.certificates.client.name);
  await setClientCertificateVersion(version);
  const next = thumbprintOf(s.certificates.client.name, version);
  const answer = await pollUntil(
    () => getByName(fd("westeurope"), API(), ca),
    (a) => healthDocumentIn(a)?.hops[1]?.clientCertificate === next,
    2_000,
  );
  assert.ok(answer.ok, "the health document shows the new client certificate");
  assert.equal(healthOf(answer.value).clientCertificate?.verify, "SUCCESS");
});

test("end to end: a gateway certificate whose SAN misses the origin name gives Front Door's 502 CertificateNameCheckFailed", async () => {
  const good = deployedGatewayVersion();
  const bad = await lab.ctx.pki.issue({
    subject: "CN=apim-old.contoso.test",
    names: ["apim-old.contoso.test"],
  });
  await setApimHostnameVersion(await importVersion(seed().certificates.apim.name, bad.certPem, bad.keyPem));
  try {
    const answer = await pollUntil(
      () => getByName(fd("westeurope"), API(), ca),
      (a) => a.status !== 200,
      2_000,
    );
    assert.equal(answer.value.status, 502);
    assert.equal(answer.value.headers["x-lab-error-info"], "CertificateNameCheckFailed");
    assert.match(answer.value.body, /Our services aren't available right now/);
  } finally {
    await setApimHostnameVersion(good);
  }
  await chainHealthy();
});

test("end to end: an expired gateway certificate gives 502 CertificateError (CERT_HAS_EXPIRED)", async () => {
  const good = deployedGatewayVersion();
  const now = Date.now();
  const expired = await lab.ctx.pki.issue({
    subject: `CN=${APIM()}`,
    names: [APIM()],
    notBefore: new Date(now - 30 * 86_400_000),
    notAfter: new Date(now - 86_400_000),
  });
  await setApimHostnameVersion(
    await importVersion(seed().certificates.apim.name, expired.certPem, expired.keyPem),
  );
  try {
    const answer = await pollUntil(
      () => getByName(fd("westeurope"), API(), ca),
      (a) => a.status !== 200,
      2_000,
    );
    assert.equal(answer.value.status, 502);
    assert.equal(answer.value.headers["x-lab-error-info"], "CertificateError");
    assert.equal(answer.value.headers["x-lab-error-code"], "CERT_HAS_EXPIRED");
  } finally {
    await setApimHostnameVersion(good);
  }
  await chainHealthy();
});

test("end to end: a gateway certificate from an untrusted CA gives 502 CertificateError", async () => {
  const good = deployedGatewayVersion();
  const untrusted = await issueCertificate(foreignCa, {
    subject: `CN=${APIM()}`,
    names: [APIM()],
    issuer: foreignCa,
  });
  await setApimHostnameVersion(
    await importVersion(seed().certificates.apim.name, untrusted.chainPem, untrusted.keyPem),
  );
  try {
    const answer = await pollUntil(
      () => getByName(fd("westeurope"), API(), ca),
      (a) => a.status !== 200,
      2_000,
    );
    assert.equal(answer.value.status, 502);
    assert.equal(answer.value.headers["x-lab-error-info"], "CertificateError");
    assert.match(
      String(answer.value.headers["x-lab-error-code"]),
      /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT|VERIFY_LEAF_SIGNATURE)/,
    );
  } finally {
    await setApimHostnameVersion(good);
  }
  await chainHealthy();
});

test("end to end: a client certificate the ingress does not trust is refused with nginx's 400, passed through APIM and Front Door", async () => {
  const good = deployedClientVersion();
  const untrusted = await issueCertificate(foreignCa, {
    subject: "CN=apim-client.contoso.test",
    names: ["apim-client.contoso.test"],
    usage: "client",
    issuer: foreignCa,
  });
  await setClientCertificateVersion(
    await importVersion(seed().certificates.client.name, untrusted.chainPem, untrusted.keyPem),
  );
  try {
    const answer = await pollUntil(
      () => getByName(fd("westeurope"), API(), ca),
      (a) => a.status !== 200,
      2_000,
    );
    assert.equal(answer.value.status, 400);
    assert.equal(answer.value.headers["x-lab-error-hop"], "ingress");
    assert.match(answer.value.body, /400 The SSL certificate error/);
  } finally {
    await setClientCertificateVersion(good);
  }
  await chainHealthy();
});

test("edge faults set through the lab control API act on the running chain", async () => {
  await chainHealthy();
  const added = await lab.control("POST", "/lab/faults", {
    service: "edge",
    kind: "wrongCertificate",
    match: "^ingress ",
  });
  assert.equal(added.status, 201);
  try {
    const answer = await getByName(fd("westeurope"), API(), ca);
    assert.equal(answer.status, 500, "APIM refuses the ingress certificate for another name");
    assert.equal(answer.headers["x-lab-error-info"], "BackendConnectionFailure");
    assert.equal(answer.headers["x-lab-error-code"], "ERR_TLS_CERT_ALTNAME_INVALID");
  } finally {
    await lab.control("DELETE", "/lab/faults?service=edge");
  }
  await chainHealthy();
  const described = await lab.control<{ frontDoor: Record<string, { locations: Record<string, string> }> }>(
    "GET",
    "/lab/edge",
  );
  assert.equal(described.status, 200);
  assert.equal(
    described.body.frontDoor[API()]?.locations.eastus,
    thumbprintOf(seed().certificates.edge.name),
  );
  assert.equal(
    (await lab.control("PUT", "/lab/edge/frontDoor/locations/nowhere", { propagationDelayMs: 1 })).status,
    404,
  );
});
