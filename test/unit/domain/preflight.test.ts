import { test } from "node:test";
import assert from "node:assert/strict";
import { bindingId, type Binding } from "../../../src/domain/bindings.js";
import {
  certificateCoversHost,
  dnsNameMatches,
  runPreflight,
  summariseFailures,
  type PreflightInput,
  type PreflightReason,
  type PreflightResult,
} from "../../../src/domain/preflight.js";
import { describeCertificate, inspectCandidate } from "../../../src/domain/x509.js";
import {
  NOW,
  aLeaf,
  createIntermediateCa,
  createRootCa,
  daysFrom,
  testPki,
  type BuiltLeaf,
  type LeafBuilder,
} from "../../support/certificateBuilders.js";
import {
  aFrontDoorBinding,
  aKubernetesBinding,
  anApimCertificateBinding,
  anApimHostnameBinding,
} from "../../support/bindingBuilders.js";
import { aPreflightPolicy } from "../../support/policyBuilders.js";

const matchCases: { name: string; presented: string; host: string; matches: boolean }[] = [
  { name: "an exact name matches", presented: "api.contoso.test", host: "api.contoso.test", matches: true },
  {
    name: "names match case-insensitively",
    presented: "API.Contoso.TEST",
    host: "api.contoso.test",
    matches: true,
  },
  {
    name: "a trailing dot on the host is ignored",
    presented: "api.contoso.test",
    host: "api.contoso.test.",
    matches: true,
  },
  {
    name: "*.contoso.test covers api.contoso.test",
    presented: "*.contoso.test",
    host: "api.contoso.test",
    matches: true,
  },
  {
    name: "*.contoso.test does not cover a.b.contoso.test",
    presented: "*.contoso.test",
    host: "a.b.contoso.test",
    matches: false,
  },
  {
    name: "*.contoso.test does not cover contoso.test itself",
    presented: "*.contoso.test",
    host: "contoso.test",
    matches: false,
  },
  {
    name: "a wildcard over a single label (*.test) covers nothing",
    presented: "*.test",
    host: "contoso.test",
    matches: false,
  },
  {
    name: "a partial-label wildcard (api*.contoso.test) is not honoured",
    presented: "api*.contoso.test",
    host: "api1.contoso.test",
    matches: false,
  },
  {
    name: "a wildcard not in the left-most label is not honoured",
    presented: "api.*.test",
    host: "api.contoso.test",
    matches: false,
  },
  {
    name: "a bound wildcard host needs the same wildcard",
    presented: "*.contoso.test",
    host: "*.contoso.test",
    matches: true,
  },
  {
    name: "a bound wildcard host is not covered by one name under it",
    presented: "api.contoso.test",
    host: "*.contoso.test",
    matches: false,
  },
  {
    name: "a different suffix does not match",
    presented: "*.contoso.test",
    host: "api.fabrikam.test",
    matches: false,
  },
];

for (const c of matchCases) {
  test(c.name, () => assert.equal(dnsNameMatches(c.presented, c.host), c.matches));
}

test("the CN is ignored when a subjectAltName extension is present", async () => {
  const leaf = await aLeaf().withCommonName("gw.contoso.test").withDnsNames("api.contoso.test").build();
  const info = describeCertificate(leaf.cert);
  assert.equal(certificateCoversHost(info, "gw.contoso.test"), false);
  assert.equal(certificateCoversHost(info, "api.contoso.test"), true);
});

test("the CN is used when there is no subjectAltName extension", async () => {
  const leaf = await aLeaf().withCommonName("*.contoso.test").withoutSubjectAltName().build();
  assert.equal(certificateCoversHost(describeCertificate(leaf.cert), "gw.contoso.test"), true);
});

test("an IP host is matched against IP SANs, never against DNS names", async () => {
  const leaf = await aLeaf().withDnsNames("10.0.0.9").withIpAddresses("10.0.0.1").build();
  const info = describeCertificate(leaf.cert);
  assert.equal(certificateCoversHost(info, "10.0.0.1"), true);
  assert.equal(certificateCoversHost(info, "10.0.0.9"), false);
});

// -----------------------------------------------------------------------------------------------
// The check chain, table-driven over real certificates

/** The chain as bound in the lab: Kubernetes, APIM hostname and client certificate, Front Door. */
const chainBindings = (): Binding[] => [
  aKubernetesBinding({ ingressHosts: ["backend.contoso.test"] }),
  anApimHostnameBinding({ hostName: "gw.contoso.test" }),
  anApimCertificateBinding(),
  aFrontDoorBinding({ customDomains: [{ name: "api", hostName: "api.contoso.test" }] }),
];

interface Case {
  name: string;
  leaf?: (b: LeafBuilder) => LeafBuilder | Promise<LeafBuilder>;
  /** Which certificates accompany the leaf; default: its intermediates. */
  chain?: (leaf: BuiltLeaf) => Promise<string[]>;
  roots?: () => Promise<string[]>;
  key?: PreflightInput["key"];
  bindings?: Binding[];
  deployed?: (leaf: BuiltLeaf, bindings: Binding[]) => PreflightInput["deployed"];
  policy?: Partial<PreflightInput["policy"]>;
  verdict: PreflightResult["verdict"];
  reasons: PreflightReason[];
  message?: RegExp;
}

const wildcard = (b: LeafBuilder) => b.withDnsNames("*.contoso.test");

const cases: Case[] = [
  {
    name: "a good RSA certificate covering every bound host proceeds",
    leaf: wildcard,
    verdict: "Proceed",
    reasons: [],
  },
  {
    name: "a certificate listing each host by name proceeds",
    leaf: (b) => b.withDnsNames("backend.contoso.test", "gw.contoso.test", "api.contoso.test"),
    verdict: "Proceed",
    reasons: [],
  },
  {
    name: "a certificate not valid until tomorrow is NotYetValid",
    leaf: (b) => wildcard(b).validBetween(daysFrom(NOW, 1), daysFrom(NOW, 90)),
    verdict: "Rejected",
    reasons: ["NotYetValid"],
  },
  {
    name: "an expired certificate is Expired and nothing else about time",
    leaf: (b) => wildcard(b).validBetween(daysFrom(NOW, -90), daysFrom(NOW, -1)),
    verdict: "Rejected",
    reasons: ["Expired"],
  },
  {
    name: "a certificate with three days left is ExpiresTooSoon",
    leaf: (b) => wildcard(b).validBetween(daysFrom(NOW, -30), daysFrom(NOW, 3)),
    verdict: "Rejected",
    reasons: ["ExpiresTooSoon"],
    message: /in 3 days; at least 30/,
  },
  {
    name: "a policy asking for 30 days rejects a certificate with 20 left",
    leaf: (b) => wildcard(b).validBetween(daysFrom(NOW, -30), daysFrom(NOW, 20)),
    policy: { minimumRemainingDays: 30 },
    verdict: "Rejected",
    reasons: ["ExpiresTooSoon"],
  },
  {
    name: "a SAN that misses one bound host is SanMismatch naming that host and its binding",
    leaf: (b) => b.withDnsNames("backend.contoso.test", "api.contoso.test"),
    verdict: "Rejected",
    reasons: ["SanMismatch"],
    message: /does not cover gw\.contoso\.test, served by APIM apim-lab Proxy hostname/,
  },
  {
    name: "a wildcard does not cover a host two labels down",
    leaf: wildcard,
    bindings: [aKubernetesBinding({ ingressHosts: ["a.b.contoso.test"] })],
    verdict: "Rejected",
    reasons: ["SanMismatch"],
  },
  {
    name: "a wildcard does not cover the bare domain",
    leaf: wildcard,
    bindings: [anApimHostnameBinding({ hostName: "contoso.test" })],
    verdict: "Rejected",
    reasons: ["SanMismatch"],
  },
  {
    name: "the CN does not rescue a SAN that misses a host",
    leaf: (b) => b.withCommonName("gw.contoso.test").withDnsNames("api.contoso.test", "backend.contoso.test"),
    verdict: "Rejected",
    reasons: ["SanMismatch"],
  },
  {
    name: "a CA bundle and a client certificate need no names at all",
    leaf: (b) => b.withDnsNames("unrelated.example"),
    bindings: [aKubernetesBinding({ role: "ca" }), anApimCertificateBinding()],
    verdict: "Proceed",
    reasons: [],
  },
  {
    name: "an RSA 1024 key is KeyTooWeak",
    leaf: (b) => wildcard(b).withKey("rsa1024"),
    verdict: "Rejected",
    reasons: ["KeyTooWeak"],
    message: /1024 bits; at least 2048/,
  },
  {
    name: "an RSA 3072 key is fine",
    leaf: (b) => wildcard(b).withKey("rsa3072"),
    verdict: "Proceed",
    reasons: [],
  },
  {
    name: "an EC P-256 key bound to Front Door is refused for Front Door",
    leaf: (b) => wildcard(b).withKey("ecP256"),
    verdict: "Rejected",
    reasons: ["EcKeyNotSupportedByTarget"],
    message: /Front Door profile fd-lab/,
  },
  {
    name: "an EC P-384 key without a Front Door binding proceeds",
    leaf: (b) => wildcard(b).withKey("ecP384"),
    bindings: chainBindings().slice(0, 3),
    verdict: "Proceed",
    reasons: [],
  },
  {
    name: "an EC P-521 key is an unsupported curve, and Front Door refuses it as well",
    leaf: (b) => wildcard(b).withKey("ecP521"),
    verdict: "Rejected",
    reasons: ["KeyTypeUnsupported", "EcKeyNotSupportedByTarget"],
  },
  {
    name: "a SHA-1 signature is WeakSignatureAlgorithm",
    leaf: (b) => wildcard(b).signedWith("SHA-1"),
    verdict: "Rejected",
    reasons: ["WeakSignatureAlgorithm"],
    message: /SHA-1/,
  },
  {
    name: "an MD5 signature is refused for its hash, and Web Crypto cannot even verify it",
    leaf: (b) => wildcard(b).signedWith("MD5"),
    verdict: "Rejected",
    reasons: ["WeakSignatureAlgorithm", "ChainInvalid"],
    message: /MD5/,
  },
  {
    name: "a leaf sent without its intermediate is ChainIncomplete",
    leaf: wildcard,
    chain: () => Promise.resolve([]),
    verdict: "Rejected",
    reasons: ["ChainIncomplete"],
    message: /Issuing CA 1.*missing/,
  },
  {
    name: "a chain to a root the targets do not trust is ChainUntrusted",
    leaf: wildcard,
    chain: async (l) => [...l.intermediates.map((c) => c.toString("pem")), (await testPki()).root.pem],
    roots: async () => [(await createRootCa("CN=Some Other Root", { slot: 210 })).pem],
    verdict: "Rejected",
    reasons: ["ChainUntrusted"],
  },
  {
    name: "a self-signed certificate is ChainUntrusted",
    leaf: (b) => wildcard(b).issuedBy("self"),
    verdict: "Rejected",
    reasons: ["ChainUntrusted"],
  },
  {
    name: "an expired intermediate is ChainCertificateNotValid",
    leaf: async (b) => {
      const pki = await testPki();
      const old = await createIntermediateCa(pki.root, "CN=Old Issuing CA", {
        slot: 211,
        notBefore: daysFrom(NOW, -400),
        notAfter: daysFrom(NOW, -2),
      });
      return wildcard(b).issuedBy(old);
    },
    verdict: "Rejected",
    reasons: ["ChainCertificateNotValid"],
    message: /Old Issuing CA/,
  },
  {
    name: "a certificate for client auth only cannot serve TLS",
    leaf: (b) => wildcard(b).withExtendedKeyUsages(["1.3.6.1.5.5.7.3.2"]),
    verdict: "Rejected",
    reasons: ["ExtendedKeyUsageMismatch"],
    message: /lacks serverAuth/,
  },
  {
    name: "a server-only certificate cannot be APIM's backend client certificate",
    leaf: (b) => wildcard(b).withExtendedKeyUsages(["1.3.6.1.5.5.7.3.1"]),
    verdict: "Rejected",
    reasons: ["ExtendedKeyUsageMismatch"],
    message: /lacks clientAuth/,
  },
  {
    name: "a certificate without an extended key usage extension may serve any purpose",
    leaf: (b) => wildcard(b).withExtendedKeyUsages(undefined),
    verdict: "Proceed",
    reasons: [],
  },
  {
    name: "a private key that does not match is KeyMismatch",
    leaf: wildcard,
    key: { matches: false, exportable: true },
    verdict: "Rejected",
    reasons: ["KeyMismatch"],
  },
  {
    name: "a key that could not be compared is not held against the certificate",
    leaf: wildcard,
    key: { exportable: true },
    verdict: "Proceed",
    reasons: [],
  },
  {
    name: "a non-exportable key bound to a Kubernetes TLS Secret is KeyNotExportable",
    leaf: wildcard,
    key: { exportable: false },
    verdict: "Rejected",
    reasons: ["KeyNotExportable"],
    message: /Kubernetes Secret api\/api-tls/,
  },
  {
    name: "a non-exportable key is fine when no target needs the key itself",
    leaf: wildcard,
    key: { exportable: false },
    bindings: chainBindings().slice(1),
    verdict: "Proceed",
    reasons: [],
  },
  {
    name: "a certificate with many problems reports every one of them, in order",
    leaf: (b) =>
      b
        .withDnsNames("api.contoso.test")
        .withKey("rsa1024")
        .signedWith("SHA-1")
        .validBetween(daysFrom(NOW, -90), daysFrom(NOW, -1)),
    chain: () => Promise.resolve([]),
    key: { matches: false, exportable: false },
    verdict: "Rejected",
    reasons: [
      "Expired",
      "SanMismatch",
      "KeyTooWeak",
      "WeakSignatureAlgorithm",
      "ChainIncomplete",
      "KeyMismatch",
      "KeyNotExportable",
    ],
  },
  {
    name: "a certificate every binding already has is AlreadyDeployed, not an error",
    leaf: wildcard,
    deployed: (leaf, bs) =>
      bs.map((b) => ({
        bindingId: bindingId(b),
        thumbprint: describeCertificate(leaf.cert).thumbprint.toLowerCase(),
      })),
    verdict: "AlreadyDeployed",
    reasons: [],
  },
  {
    name: "a certificate some bindings already have still proceeds",
    leaf: wildcard,
    deployed: (leaf, bs) => [
      { bindingId: bindingId(bs[0]!), thumbprint: describeCertificate(leaf.cert).thumbprint },
      { bindingId: bindingId(bs[1]!), thumbprint: "AA".repeat(20) },
      { bindingId: bindingId(bs[2]!) },
    ],
    verdict: "Proceed",
    reasons: [],
  },
  {
    name: "a deployed certificate that fails preflight is Rejected rather than AlreadyDeployed",
    leaf: (b) => wildcard(b).validBetween(daysFrom(NOW, -30), daysFrom(NOW, 2)),
    deployed: (leaf, bs) =>
      bs.map((b) => ({ bindingId: bindingId(b), thumbprint: describeCertificate(leaf.cert).thumbprint })),
    verdict: "Rejected",
    reasons: ["ExpiresTooSoon"],
  },
];

async function run(c: Case): Promise<PreflightResult> {
  const builder = c.leaf ? await c.leaf(aLeaf()) : aLeaf();
  const leaf = await builder.build();
  const chain = c.chain ? await c.chain(leaf) : leaf.intermediates.map((x) => x.toString("pem"));
  const roots = c.roots ? await c.roots() : [(await testPki()).root.pem];
  const inspected = await inspectCandidate({ certificates: [leaf.pem, ...chain], trustedRoots: roots });
  assert.ok(inspected.ok);
  const bindings = c.bindings ?? chainBindings();
  return runPreflight(
    {
      candidate: inspected.candidate,
      key: c.key ?? { matches: true, exportable: true },
      bindings,
      ...(c.deployed ? { deployed: c.deployed(leaf, bindings) } : {}),
      policy: aPreflightPolicy(c.policy),
    },
    NOW,
  );
}

for (const c of cases) {
  test(c.name, async () => {
    const r = await run(c);
    assert.deepEqual(
      r.failures.map((f) => f.reason),
      c.reasons,
      summariseFailures(r.failures),
    );
    assert.equal(r.verdict, c.verdict);
    if (c.message) assert.match(summariseFailures(r.failures) || r.notices[0]?.message || "", c.message);
    for (const f of r.failures)
      assert.ok(f.message.length > 10 && /[.)]$/.test(f.message), `a sentence: ${f.message}`);
  });
}

test("AlreadyDeployed comes with a notice and the ids of the bindings that have it", async () => {
  const bindings = chainBindings();
  const r = await run({
    name: "",
    leaf: wildcard,
    bindings,
    deployed: (leaf, bs) =>
      bs.map((b) => ({ bindingId: bindingId(b), thumbprint: describeCertificate(leaf.cert).thumbprint })),
    verdict: "AlreadyDeployed",
    reasons: [],
  });
  assert.deepEqual(
    r.notices.map((n) => n.reason),
    ["AlreadyDeployed"],
  );
  assert.deepEqual(r.alreadyDeployed, bindings.map(bindingId));
  assert.match(r.thumbprint, /^[0-9A-F]{40}$/);
});

test("the clock is the one passed in: the same certificate passes today and is Expired, with its issuer, in three years", async () => {
  const leaf = await wildcard(aLeaf()).build();
  const inspected = await inspectCandidate({
    certificates: leaf.chainPem,
    trustedRoots: (await testPki()).root.pem,
  });
  assert.ok(inspected.ok);
  const input = {
    candidate: inspected.candidate,
    key: { matches: true, exportable: true },
    bindings: chainBindings(),
    policy: aPreflightPolicy(),
  };
  assert.equal(runPreflight(input, NOW).verdict, "Proceed");
  assert.deepEqual(
    runPreflight(input, daysFrom(NOW, 1100)).failures.map((f) => f.reason),
    ["Expired", "ChainCertificateNotValid"],
  );
});

test("preflight input and result survive a JSON round trip (they travel through Durable history)", async () => {
  const leaf = await wildcard(aLeaf()).build();
  const inspected = await inspectCandidate({
    certificates: leaf.chainPem,
    trustedRoots: (await testPki()).root.pem,
  });
  assert.ok(inspected.ok);
  const input: PreflightInput = {
    candidate: inspected.candidate,
    key: { matches: true, exportable: true },
    bindings: chainBindings(),
    policy: aPreflightPolicy(),
  };
  const revived = JSON.parse(JSON.stringify(input)) as PreflightInput;
  assert.deepEqual(runPreflight(revived, NOW), runPreflight(input, NOW));
});
