/** The lab Key Vault's certificate facts, parsed once per certificate: every caller gets its own copy. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { createCertificateAuthority, issueCertificate } from "../../../emulator/lab/core/pki.js";
import { certificateFacts } from "../../../emulator/lab/keyvault/crypto.js";

test("facts of one certificate are equal on every call, and changing one copy leaves the next intact", async () => {
  const ca = await createCertificateAuthority("Facts Test CA", 1);
  const leaf = await issueCertificate(ca, { subject: "CN=a.test", names: ["a.test", "b.test"] });
  const x509 = new X509Certificate(leaf.certPem);
  const first = certificateFacts(leaf.certPem);
  assert.deepEqual(first.dnsNames, ["a.test", "b.test"]);
  assert.equal(first.notAfter.getTime(), new Date(x509.validTo).getTime());
  assert.equal(first.thumbprint, x509.fingerprint.replace(/:/g, ""));
  first.dnsNames.push("c.test");
  first.notAfter.setTime(0);
  first.thumbprint = "changed";
  const second = certificateFacts(leaf.certPem);
  assert.deepEqual(second.dnsNames, ["a.test", "b.test"]);
  assert.equal(second.notAfter.getTime(), new Date(x509.validTo).getTime());
  assert.equal(second.thumbprint, x509.fingerprint.replace(/:/g, ""));
  const other = await issueCertificate(ca, { subject: "CN=c.test", names: ["c.test"] });
  assert.deepEqual(certificateFacts(other.certPem).dnsNames, ["c.test"]);
});
