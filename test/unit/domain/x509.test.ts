import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  analyseChain,
  describeCertificate,
  inspectCandidate,
  normaliseThumbprint,
  parseCertificates,
  thumbprintSha1,
  type ChainStatus,
} from "../../../src/domain/x509.js";
import {
  aLeaf,
  createIntermediateCa,
  createRootCa,
  testPki,
  type BuiltLeaf,
  type KeyKind,
  type SignatureHash,
} from "../../support/certificateBuilders.js";
import { PemConverter } from "@peculiar/x509";

test("a thumbprint is the upper-case SHA-1 of the DER, as Azure shows it", async () => {
  const leaf = await aLeaf().build();
  const expected = createHash("sha1").update(leaf.der).digest("hex").toUpperCase();
  assert.equal(thumbprintSha1(leaf.der), expected);
  assert.equal(describeCertificate(leaf.cert).thumbprint, expected);
  assert.match(describeCertificate(leaf.cert).thumbprintSha256, /^[0-9A-F]{64}$/);
});

test("thumbprints written with colons, spaces or lower case normalise to one form", () => {
  assert.equal(normaliseThumbprint("ab:cd ef-01"), "ABCDEF01");
});

test("a PEM bundle yields only its certificates, skipping any private key block", async () => {
  const leaf = await aLeaf().build();
  // A key block around three zero bytes ("AAAA"): only its framing matters here.
  const bundle = `${PemConverter.encode(new Uint8Array(3).buffer, "PRIVATE KEY")}\n${leaf.chainPem}`;
  const certs = parseCertificates(bundle);
  assert.equal(certs.length, 2);
  assert.equal(certs[0]?.subject, leaf.cert.subject);
});

test("DER and PEM of one certificate parse to the same certificate", async () => {
  const leaf = await aLeaf().build();
  const [a, b] = parseCertificates([leaf.der, leaf.pem]);
  assert.equal(thumbprintSha1(a!.rawData), thumbprintSha1(b!.rawData));
});

test("text that holds no certificate is refused with its position", () => {
  assert.throws(
    () => parseCertificates(["-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"]),
    /Item 0/,
  );
  assert.throws(() => parseCertificates(["", "hello"]), /Item 0 holds no PEM/);
});

const keyCases: { name: string; key: KeyKind; expected: object }[] = [
  {
    name: "an RSA 2048 key reads as RSA of 2048 bits",
    key: "rsa2048",
    expected: { type: "RSA", bits: 2048 },
  },
  { name: "an EC P-256 key reads as EC on P-256", key: "ecP256", expected: { type: "EC", curve: "P-256" } },
  { name: "an EC P-384 key reads as EC on P-384", key: "ecP384", expected: { type: "EC", curve: "P-384" } },
];
for (const c of keyCases) {
  test(c.name, async () => {
    const leaf = await aLeaf().withKey(c.key).build();
    assert.deepEqual(describeCertificate(leaf.cert).key, c.expected);
  });
}

const hashCases: { name: string; hash: SignatureHash }[] = [
  { name: "a SHA-256 signature reports SHA-256", hash: "SHA-256" },
  { name: "a SHA-1 signature reports SHA-1", hash: "SHA-1" },
  { name: "an MD5 signature reports MD5", hash: "MD5" },
];
for (const c of hashCases) {
  test(c.name, async () => {
    const leaf = await aLeaf().signedWith(c.hash).build();
    assert.equal(describeCertificate(leaf.cert).signature.hash, c.hash);
  });
}

test("names, validity and CA flag are read from the certificate", async () => {
  const nb = new Date("2026-01-01T00:00:00Z");
  const na = new Date("2026-12-31T00:00:00Z");
  const leaf = await aLeaf()
    .withCommonName("www.contoso.test")
    .withDnsNames("www.contoso.test", "*.api.contoso.test")
    .withIpAddresses("10.1.2.3")
    .validBetween(nb, na)
    .build();
  const info = describeCertificate(leaf.cert);
  assert.equal(info.commonName, "www.contoso.test");
  assert.deepEqual(info.dnsNames, ["www.contoso.test", "*.api.contoso.test"]);
  assert.deepEqual(info.ipAddresses, ["10.1.2.3"]);
  assert.equal(info.hasSubjectAltName, true);
  assert.equal(info.notBefore, nb.toISOString());
  assert.equal(info.notAfter, na.toISOString());
  assert.equal(info.isCa, false);
  assert.equal(describeCertificate((await testPki()).root.cert).isCa, true);
  assert.equal(
    (JSON.parse(JSON.stringify(info)) as typeof info).thumbprint,
    info.thumbprint,
    "facts survive JSON",
  );
});

interface ChainCase {
  name: string;
  leaf: () => Promise<BuiltLeaf>;
  chain: (leaf: BuiltLeaf) => Promise<BuiltLeaf["intermediates"]>;
  roots: () => Promise<BuiltLeaf["intermediates"]>;
  status: ChainStatus;
  pathLength: number;
  detail: RegExp;
}

const sharedRoot = async () => [(await testPki()).root.cert];
const chainCases: ChainCase[] = [
  {
    name: "leaf plus intermediate under a trusted root is trusted",
    leaf: () => aLeaf().build(),
    chain: (l) => Promise.resolve(l.intermediates),
    roots: sharedRoot,
    status: "trusted",
    pathLength: 3,
    detail: /Contoso Test Root CA/,
  },
  {
    name: "a leaf without its intermediate is incomplete and names the missing issuer",
    leaf: () => aLeaf().build(),
    chain: () => Promise.resolve([]),
    roots: sharedRoot,
    status: "incomplete",
    pathLength: 1,
    detail: /Issuing CA 1.*missing/,
  },
  {
    name: "a chain that ends at a root nobody trusts is untrusted",
    leaf: () => aLeaf().build(),
    chain: async (l) => [...l.intermediates, (await testPki()).root.cert],
    roots: async () => [(await createRootCa("CN=Other Root", { slot: 200 })).cert],
    status: "untrusted",
    pathLength: 3,
    detail: /not in the trusted list/,
  },
  {
    name: "a self-signed leaf is untrusted",
    leaf: () => aLeaf().issuedBy("self").build(),
    chain: () => Promise.resolve([]),
    roots: sharedRoot,
    status: "untrusted",
    pathLength: 1,
    detail: /not in the trusted list/,
  },
  {
    name: "a leaf issued directly by the trusted root is trusted without intermediates",
    leaf: () => aLeaf().issuedBy("root").build(),
    chain: () => Promise.resolve([]),
    roots: sharedRoot,
    status: "trusted",
    pathLength: 2,
    detail: /trusted root/,
  },
  {
    name: "an intermediate with the right name but another key is invalid",
    leaf: () => aLeaf().build(),
    chain: async () => {
      const pki = await testPki();
      return [(await createIntermediateCa(pki.root, pki.intermediate.cert.subject, { slot: 300 })).cert];
    },
    roots: sharedRoot,
    status: "invalid",
    pathLength: 1,
    detail: /valid signature/,
  },
  {
    name: "an issuer that is not a CA makes the chain invalid",
    leaf: async () => {
      const pki = await testPki();
      const notCa = await createIntermediateCa(pki.root, "CN=Not A CA", { ca: false, slot: 301 });
      return aLeaf().issuedBy(notCa).build();
    },
    chain: (l) => Promise.resolve(l.intermediates),
    roots: sharedRoot,
    status: "invalid",
    pathLength: 2,
    detail: /not a CA/,
  },
];

for (const c of chainCases) {
  test(c.name, async () => {
    const leaf = await c.leaf();
    const result = await analyseChain(leaf.cert, await c.chain(leaf), await c.roots());
    assert.equal(result.status, c.status, result.detail);
    assert.equal(result.path.length, c.pathLength);
    assert.equal(result.path[0]?.thumbprint, thumbprintSha1(leaf.der));
    assert.match(result.detail, c.detail);
  });
}

test("inspecting a candidate reads the leaf and analyses its chain from PEM", async () => {
  const leaf = await aLeaf().build();
  const result = await inspectCandidate({
    certificates: leaf.chainPem,
    trustedRoots: (await testPki()).root.pem,
  });
  assert.ok(result.ok);
  assert.equal(result.candidate.leaf.thumbprint, thumbprintSha1(leaf.der));
  assert.equal(result.candidate.chain.status, "trusted");
});

test("inspecting garbage answers CertificateUnreadable instead of throwing", async () => {
  const result = await inspectCandidate({ certificates: "not a pem", trustedRoots: [] });
  assert.deepEqual(result.ok ? "ok" : result.reason, "CertificateUnreadable");
  const empty = await inspectCandidate({ certificates: [], trustedRoots: [] });
  assert.equal(empty.ok, false);
});
