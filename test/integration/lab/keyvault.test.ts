import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createHash } from "node:crypto";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { DefaultAzureCredential } from "@azure/identity";
import {
  WellKnownIssuer,
  type CertificateClient,
  type CertificatePolicy,
} from "@azure/keyvault-certificates";
import type { SecretClient } from "@azure/keyvault-secrets";
import { startTestLab, type TestLab } from "../../support/lab.js";
import { createCertificateAuthority, issueCertificate } from "../../../emulator/lab/core/pki.js";
import {
  certificateClient,
  derToCertificate,
  keyMatchesCertificate,
  pemBlocks,
  readPfx,
  recordingHttpClient,
  secretClient,
  vaultUrl,
} from "./keyvaultSupport.js";

let lab: TestLab;
let certs: CertificateClient;
let secrets: SecretClient;
const poll = { intervalInMs: 50 };

before(async () => {
  lab = await startTestLab();
  await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 200 });
  const credential = new DefaultAzureCredential();
  certs = certificateClient(lab, credential);
  secrets = secretClient(lab, credential);
});
after(() => lab?.dispose());

const selfPolicy = (subject: string, extra: Partial<CertificatePolicy> = {}): CertificatePolicy => ({
  issuerName: WellKnownIssuer.Self,
  subject,
  ...extra,
});

test("the SDK's challenge flow: first request unauthenticated with an empty body gets 401 + WWW-Authenticate, then the token", async () => {
  const { httpClient, records } = recordingHttpClient();
  const client = certificateClient(lab, new DefaultAzureCredential(), httpClient);
  const cert = await client.getCertificate(lab.ctx.seed.certificates.edge.name);
  assert.equal(cert.name, lab.ctx.seed.certificates.edge.name);
  assert.equal(records[0]?.status, 401);
  assert.equal(records[0]?.authorized, false);
  assert.equal(records[1]?.status, 200);
  assert.equal(records[1]?.authorized, true);
  assert.match(records[0].url, /\/certificates\/edge-contoso\/\?api(-|%2D)version=2025-07-01$/);
  assert.match(vaultUrl(lab), /^https:\/\/kv-contoso\.vault\.localhost:\d+\/$/);
  // The POST's body is stripped on the challenge request and restored for the authorised one.
  const post = recordingHttpClient();
  const c2 = certificateClient(lab, new DefaultAzureCredential(), post.httpClient);
  const ingress = lab.ctx.seed.certificates.ingress.name;
  await c2.updateCertificatePolicy(ingress, await certs.getCertificatePolicy(ingress));
  assert.equal(post.records[0]?.status, 401);
  assert.equal(post.records[0]?.bodyLength, 0);
  assert.ok((post.records[1]?.bodyLength ?? 0) !== 0);
  assert.equal(post.records[1]?.status, 200);
});

test("seeded certificates: integrated lab CA, RSA 2048, PKCS12, exportable, SANs, ~1 year, chain to the lab root", async () => {
  for (const [role, seed] of Object.entries(lab.ctx.seed.certificates)) {
    const cert = await certs.getCertificate(seed.name);
    const policy = cert.policy!;
    assert.equal(policy.issuerName, "LabCA");
    assert.equal(policy.keyType, "RSA");
    assert.equal(policy.keySize, 2048);
    assert.equal(policy.contentType, "application/x-pkcs12");
    assert.equal(policy.exportable, true);
    const leaf = derToCertificate(cert.cer!);
    assert.deepEqual(leaf.subjectAltName, seed.hosts.map((h) => `DNS:${h}`).join(", "));
    assert.ok(leaf.verify(new X509Certificate(lab.ctx.pki.root.certPem).publicKey), "signed by the lab root");
    const days = (cert.properties.expiresOn!.getTime() - lab.ctx.clock.now().getTime()) / 86_400_000;
    assert.ok(days > 360 && days < 370, `valid ~1 year, got ${days}`);
    const eku = leaf.keyUsage ?? [];
    assert.ok(eku.includes(role === "client" ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1"), `${role} EKU`);
    const x5t = createHash("sha1").update(Buffer.from(cert.cer!)).digest();
    assert.deepEqual(Buffer.from(cert.properties.x509Thumbprint!), x5t);
    assert.match(cert.keyId!, new RegExp(`/keys/${seed.name}/${cert.properties.version}$`));
    assert.match(cert.secretId!, new RegExp(`/secrets/${seed.name}/${cert.properties.version}$`));
    assert.equal(cert.properties.recoveryLevel, "Recoverable+Purgeable");
  }
});

test("create with the pending operation: 202, inProgress, then completed; versions listed with paging", async () => {
  const name = "lro-self";
  const poller = await certs.beginCreateCertificate(
    name,
    selfPolicy("CN=lro.test", { keyType: "EC", keyCurveName: "P-384" }),
    poll,
  );
  const op = (await certs.getCertificateOperation(name)).getOperationState().certificateOperation;
  assert.equal(op?.status, "inProgress");
  assert.ok(op?.csr && op.csr.length > 0);
  const created = await poller.pollUntilDone();
  assert.equal(created.name, name);
  assert.equal(created.policy?.keyType, "EC");
  assert.equal(created.policy?.keyCurveName, "P-384");
  assert.equal(
    (await certs.getCertificateOperation(name)).getOperationState().certificateOperation?.status,
    "completed",
  );
  // Two more versions, then list versions one per page (nextLink).
  for (let i = 0; i < 2; i++)
    await (await certs.beginCreateCertificate(name, selfPolicy("CN=lro.test"), poll)).pollUntilDone();
  const pages: number[] = [];
  const seen: string[] = [];
  await lab.control("POST", "/lab/keyvault/settings", { pageSize: 1 });
  try {
    for await (const p of certs.listPropertiesOfCertificateVersions(name).byPage()) {
      pages.push(p.length);
      seen.push(...p.map((x) => x.version!));
    }
  } finally {
    await lab.control("POST", "/lab/keyvault/settings", { pageSize: 25 });
  }
  assert.deepEqual(pages, [1, 1, 1]);
  assert.equal(new Set(seen).size, 3);
  const latest = await certs.getCertificate(name);
  assert.equal(latest.properties.version, seen.at(-1));
  const first = await certs.getCertificateVersion(name, seen[0]!);
  assert.equal(first.properties.version, seen[0]);
  assert.notDeepEqual(Buffer.from(first.cer!), Buffer.from(latest.cer!));
  const names: string[] = [];
  for await (const c of certs.listPropertiesOfCertificates()) names.push(c.name!);
  assert.ok(names.includes(name) && names.includes(lab.ctx.seed.certificates.edge.name));
});

test("a pending create can be cancelled and deleted", async () => {
  await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 60_000 });
  try {
    const poller = await certs.beginCreateCertificate("to-cancel", selfPolicy("CN=cancel.test"), poll);
    await poller.cancelOperation();
    const op = await certs.getCertificateOperation("to-cancel");
    assert.equal(op.getOperationState().certificateOperation?.status, "cancelled");
    assert.equal(op.getOperationState().certificateOperation?.cancellationRequested, true);
    await certs.deleteCertificateOperation("to-cancel");
    // The SDK's operation poller reads the certificate first; with no version left, it is gone.
    await assert.rejects(certs.getCertificateOperation("to-cancel"), { statusCode: 404 });
  } finally {
    await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 200 });
  }
});

test("an injected lroFailed fault makes the pending create end failed, and the poller raises its message", async () => {
  const fault = await lab.control("POST", "/lab/faults", {
    service: "keyvault",
    kind: "lroFailed",
    match: "POST /certificates/doomed/create",
    count: 1,
    message: "The CA refused the request.",
  });
  assert.equal(fault.status, 201);
  const poller = await certs.beginCreateCertificate("doomed", selfPolicy("CN=doomed.test"), poll);
  await assert.rejects(poller.pollUntilDone(), /The CA refused the request\./);
  // The operation stays readable (failed), so a later poller raises the same error; no version was made.
  await assert.rejects(certs.getCertificateOperation("doomed"), /The CA refused the request\./);
  const versions: string[] = [];
  for await (const v of certs.listPropertiesOfCertificateVersions("doomed")) versions.push(v.version!);
  assert.deepEqual(versions, []);
});

test("policy: get, update (lifetime actions, content type), issuer validation", async () => {
  const name = lab.ctx.seed.certificates.apim.name;
  const before = await certs.getCertificatePolicy(name);
  assert.deepEqual(before.lifetimeActions, [
    { action: "EmailContacts", lifetimePercentage: 80, daysBeforeExpiry: undefined },
  ]);
  // SDK 4.10.3 returns an empty policy from updateCertificatePolicy, so read it back.
  await certs.updateCertificatePolicy(name, {
    ...before,
    lifetimeActions: [{ action: "AutoRenew", daysBeforeExpiry: 45 }],
    contentType: "application/x-pem-file",
  });
  const after = await certs.getCertificatePolicy(name);
  assert.deepEqual(after.lifetimeActions, [
    { action: "AutoRenew", daysBeforeExpiry: 45, lifetimePercentage: undefined },
  ]);
  assert.equal(after.contentType, "application/x-pem-file");
  assert.equal(after.issuerName, "LabCA");
  await assert.rejects(certs.updateCertificatePolicy(name, { ...before, issuerName: "NoSuchIssuer" }), {
    statusCode: 400,
  });
  await certs.updateCertificatePolicy(name, before);
});

test("issuers: the integrated CA issuer is listed, and a new LabCA issuer signs with the lab root", async () => {
  const issuers: string[] = [];
  // (SDK 4.10.3 yields {id, provider} items here, without name.)
  for await (const i of certs.listPropertiesOfIssuers())
    issuers.push(`${i.id?.split("/").at(-1)}:${i.provider}`);
  assert.ok(issuers.includes("LabCA:LabCA"));
  await certs.createIssuer("team-ca", "LabCA");
  assert.equal((await certs.getIssuer("team-ca")).provider, "LabCA");
  const cert = await (
    await certs.beginCreateCertificate(
      "via-team-ca",
      {
        issuerName: "team-ca",
        subject: "CN=team.test",
        subjectAlternativeNames: { dnsNames: ["team.test"] },
      },
      poll,
    )
  ).pollUntilDone();
  const leaf = derToCertificate(cert.cer!);
  assert.ok(leaf.verify(new X509Certificate(lab.ctx.pki.root.certPem).publicKey));
  await certs.deleteIssuer("team-ca");
  await assert.rejects(certs.getIssuer("team-ca"), { statusCode: 404 });
});

test("the certificate's secret as PFX: chain + key that matches the leaf; without the key when not exportable", async () => {
  const edge = await certs.getCertificate(lab.ctx.seed.certificates.edge.name);
  const secret = await secrets.getSecret(edge.name, { version: edge.properties.version! });
  assert.equal(secret.properties.contentType, "application/x-pkcs12");
  assert.equal(secret.properties.managed, true);
  assert.equal(secret.properties.version, edge.properties.version);
  const pfx = readPfx(secret.value!);
  const leafPem = derToCertificate(edge.cer!).toString();
  assert.equal(
    new X509Certificate(pfx.certs[0]!).fingerprint256,
    new X509Certificate(leafPem).fingerprint256,
  );
  assert.equal(pfx.certs.length, 2, "leaf + lab root");
  assert.ok(pfx.keyPem && keyMatchesCertificate(leafPem, pfx.keyPem));

  const created = await (
    await certs.beginCreateCertificate("no-export-pfx", selfPolicy("CN=ne.test", { exportable: false }), poll)
  ).pollUntilDone();
  const s2 = await secrets.getSecret(created.name);
  const p2 = readPfx(s2.value!);
  assert.equal(p2.certs.length, 1);
  // assert.ok, not assert.equal: a failure must not print the key.
  assert.ok(p2.keyPem === undefined, "a non-exportable certificate's PFX carries no private key");
});

test("the certificate's secret as PEM: private key first, then the chain; no key when not exportable", async () => {
  for (const exportable of [true, false]) {
    const name = `pem-${exportable}`;
    const cert = await (
      await certs.beginCreateCertificate(
        name,
        {
          issuerName: "LabCA",
          subject: `CN=${name}.test`,
          contentType: "application/x-pem-file",
          exportable,
          keySize: 3072,
        },
        poll,
      )
    ).pollUntilDone();
    const secret = await secrets.getSecret(name);
    assert.equal(secret.properties.contentType, "application/x-pem-file");
    const blocks = pemBlocks(secret.value!);
    const leafPem = derToCertificate(cert.cer!).toString();
    if (exportable) {
      assert.equal(blocks[0]?.label, "PRIVATE KEY");
      assert.ok(keyMatchesCertificate(leafPem, blocks[0].pem));
      assert.equal(blocks.length, 3);
    } else {
      assert.ok(blocks.every((b) => b.label === "CERTIFICATE"));
      assert.equal(blocks.length, 2);
    }
    const firstCert = blocks.find((b) => b.label === "CERTIFICATE")!;
    assert.equal(
      new X509Certificate(firstCert.pem).fingerprint256,
      new X509Certificate(leafPem).fingerprint256,
    );
    assert.equal(new X509Certificate(firstCert.pem).publicKey.asymmetricKeyDetails?.modulusLength, 3072);
  }
  const versions: string[] = [];
  for await (const v of secrets.listPropertiesOfSecretVersions("pem-true")) versions.push(v.version!);
  assert.equal(versions.length, 1);
});

test("import: a PFX with a password and a PEM bundle, each readable back with its key", async () => {
  const foreign = await createCertificateAuthority("Foreign test CA", 1, { kty: "RSA", size: 2048 });
  const issued = await issueCertificate(foreign, {
    subject: "CN=imported.test",
    names: ["imported.test"],
    key: { kty: "RSA", size: 2048 },
  });
  const forgeKey = (await import("node-forge")).default;
  const p12 = forgeKey.pkcs12.toPkcs12Asn1(
    forgeKey.pki.privateKeyFromPem(
      (await import("node:crypto"))
        .createPrivateKey(issued.keyPem)
        .export({ type: "pkcs1", format: "pem" })
        .toString(),
    ),
    [forgeKey.pki.certificateFromPem(issued.certPem)],
    "s3cret",
    { algorithm: "3des" },
  );
  const pfxB64 = forgeKey.util.encode64(forgeKey.asn1.toDer(p12).getBytes());
  const imported = await certs.importCertificate("imported-pfx", Buffer.from(pfxB64, "base64"), {
    password: "s3cret",
  });
  assert.equal(
    derToCertificate(imported.cer!).fingerprint256,
    new X509Certificate(issued.certPem).fingerprint256,
  );
  assert.equal(imported.policy?.issuerName, "Unknown");
  const back = readPfx((await secrets.getSecret("imported-pfx")).value!);
  assert.ok(back.keyPem && keyMatchesCertificate(issued.certPem, back.keyPem));
  await assert.rejects(
    certs.importCertificate("imported-bad", Buffer.from(pfxB64, "base64"), { password: "wrong" }),
    { statusCode: 400 },
  );

  const pem = `${issued.keyPem}${issued.certPem}`;
  const importedPem = await certs.importCertificate("imported-pem", Buffer.from(pem), {
    policy: { contentType: "application/x-pem-file" },
  });
  assert.equal(importedPem.policy?.contentType, "application/x-pem-file");
  const blocks = pemBlocks((await secrets.getSecret("imported-pem")).value!);
  assert.equal(blocks[0]?.label, "PRIVATE KEY");
  assert.ok(keyMatchesCertificate(issued.certPem, blocks[0].pem));
});

test("issuer Unknown: the CSR waits in pending and completes only when a certificate signed outside is merged", async () => {
  const name = "external-ca";
  const poller = await certs.beginCreateCertificate(
    name,
    {
      issuerName: "Unknown",
      subject: "CN=external.test",
      subjectAlternativeNames: { dnsNames: ["external.test"] },
    },
    poll,
  );
  // A Self-issued request made after it is due no earlier: once that one has completed, the lab has
  // completed every request that was going to complete on its own by then.
  await (
    await certs.beginCreateCertificate("external-ca-witness", selfPolicy("CN=witness.test"), poll)
  ).pollUntilDone();
  await poller.poll();
  assert.equal(poller.isDone(), false, "Unknown issuer never completes on its own");
  const op = (await certs.getCertificateOperation(name)).getOperationState().certificateOperation!;
  const csr = new x509.Pkcs10CertificateRequest(Buffer.from(op.csr!));
  assert.equal(csr.subject, "CN=external.test");
  const foreign = await createCertificateAuthority("External CA", 1);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "0a",
    subject: csr.subject,
    issuer: foreign.certificate.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 90 * 86_400_000),
    publicKey: csr.publicKey,
    signingKey: foreign.keys.privateKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  // A certificate for another key is refused.
  const stranger = await issueCertificate(foreign, { subject: "CN=x", names: ["x"] });
  await assert.rejects(certs.mergeCertificate(name, [Buffer.from(stranger.certificate.rawData)]), {
    statusCode: 400,
  });
  const merged = await certs.mergeCertificate(name, [
    Buffer.from(leaf.rawData),
    Buffer.from(foreign.certificate.rawData),
  ]);
  assert.equal(
    derToCertificate(merged.cer!).fingerprint256,
    new X509Certificate(leaf.toString("pem")).fingerprint256,
  );
  const final = await poller.pollUntilDone();
  assert.equal(final.properties.version, merged.properties.version);
  const pfx = readPfx((await secrets.getSecret(name)).value!);
  assert.equal(pfx.certs.length, 2);
});

test("update properties: disable and tag a version; expiry stays read-only; a disabled secret is refused", async () => {
  const name = "to-update";
  const cert = await (
    await certs.beginCreateCertificate(name, selfPolicy("CN=update.test"), poll)
  ).pollUntilDone();
  const updated = await certs.updateCertificateProperties(name, cert.properties.version!, {
    enabled: false,
    tags: { owner: "lab" },
  });
  assert.equal(updated.properties.enabled, false);
  assert.deepEqual(updated.properties.tags, { owner: "lab" });
  assert.deepEqual(updated.properties.expiresOn, cert.properties.expiresOn);
  await assert.rejects(secrets.getSecret(name), (e: { statusCode?: number; code?: string }) => {
    assert.equal(e.statusCode, 403);
    assert.equal(e.code, "Forbidden");
    return true;
  });
  const enabled = await certs.updateCertificateProperties(name, "", { enabled: true });
  assert.equal(enabled.properties.enabled, true);
  assert.ok((await secrets.getSecret(name)).value);
});

test("delete (soft delete): the deleted certificate is readable, the name refused until purged", async () => {
  const name = "to-delete";
  await (await certs.beginCreateCertificate(name, selfPolicy("CN=delete.test"), poll)).pollUntilDone();
  const deleted = await (await certs.beginDeleteCertificate(name, poll)).pollUntilDone();
  assert.equal(deleted.name, name);
  assert.ok(deleted.recoveryId);
  assert.ok(deleted.deletedOn);
  await assert.rejects(certs.getCertificate(name), (e: { statusCode?: number; code?: string }) => {
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, "CertificateNotFound");
    return true;
  });
  assert.equal((await certs.getDeletedCertificate(name)).name, name);
  await assert.rejects(certs.beginCreateCertificate(name, selfPolicy("CN=delete.test"), poll), {
    statusCode: 409,
  });
  await certs.purgeDeletedCertificate(name);
  await assert.rejects(certs.getDeletedCertificate(name), { statusCode: 404 });
});

test("the in-process API resolves versioned and versionless secret references to chain and key", async () => {
  const api = lab.ctx.registry.get("keyvault") as import("../../../emulator/lab/keyvault/api.js").KeyVaultApi;
  const edge = await certs.getCertificate(lab.ctx.seed.certificates.edge.name);
  const byUrl = api.resolveSecret(edge.secretId!);
  assert.equal(byUrl?.version, edge.properties.version);
  assert.ok(byUrl?.keyPem && keyMatchesCertificate(byUrl.certPem, byUrl.keyPem));
  const versionless = api.resolveSecret(`${vaultUrl(lab)}secrets/${edge.name}`);
  assert.equal(versionless?.version, edge.properties.version);
  const arm = api.resolveSecret(
    `${api.vaultResourceId("kv-contoso")}/secrets/${edge.name}`,
    edge.properties.version,
  );
  assert.equal(arm?.thumbprint, Buffer.from(edge.properties.x509Thumbprint!).toString("hex").toUpperCase());
  assert.equal(api.resolveSecret(`${vaultUrl(lab)}secrets/nope`), undefined);
  assert.equal(api.canReadSecret(lab.ctx.seed.identities.frontDoor.objectId, "kv-contoso", edge.name), true);
  assert.equal(api.canReadSecret(lab.ctx.seed.identities.nobody.objectId, "kv-contoso", edge.name), false);
});
