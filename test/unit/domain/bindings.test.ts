import { test } from "node:test";
import assert from "node:assert/strict";
import {
  acceptsEcKey,
  bindingId,
  bindsCertificate,
  describeBinding,
  mergeBindings,
  namesToCover,
  parseBindingsFile,
  parseProbeAddress,
  probeKey,
  probeTargets,
  requiresExportableKey,
  resourceKey,
  selectTargets,
  stageOf,
  type Binding,
} from "../../../src/domain/bindings.js";
import {
  CERT,
  aFrontDoorBinding,
  aKubernetesBinding,
  anApimCertificateBinding,
  anApimHostnameBinding,
  ids,
} from "../../support/bindingBuilders.js";

const kindCases: {
  name: string;
  binding: Binding;
  stage: string;
  cover: string[];
  probes: { hostName: string; expect: string }[];
  exportable: boolean;
  ec: boolean;
}[] = [
  {
    name: "a Front Door secret belongs to the frontDoor stage, covers and serves its custom domains, and refuses EC",
    binding: aFrontDoorBinding({
      customDomains: [
        { name: "a", hostName: "API.contoso.test." },
        { name: "b", hostName: "www.contoso.test" },
      ],
    }),
    stage: "frontDoor",
    cover: ["api.contoso.test", "www.contoso.test"],
    probes: [
      { hostName: "api.contoso.test", expect: "serves" },
      { hostName: "www.contoso.test", expect: "serves" },
    ],
    exportable: false,
    ec: false,
  },
  {
    name: "an APIM hostname belongs to the apim stage and covers and serves its host name",
    binding: anApimHostnameBinding(),
    stage: "apim",
    cover: ["gw.contoso.test"],
    probes: [{ hostName: "gw.contoso.test", expect: "serves" }],
    exportable: false,
    ec: true,
  },
  {
    name: "an APIM certificate entity covers no names and is probed by requests that must be accepted",
    binding: anApimCertificateBinding({ probeHostNames: ["gw.contoso.test"] }),
    stage: "apim",
    cover: [],
    probes: [{ hostName: "gw.contoso.test", expect: "accepts" }],
    exportable: false,
    ec: true,
  },
  {
    name: "a Kubernetes TLS Secret covers and serves its ingress hosts and needs an exportable key",
    binding: aKubernetesBinding({ probeHostNames: ["backend.contoso.test", "extra.contoso.test"] }),
    stage: "kubernetes",
    cover: ["backend.contoso.test"],
    probes: [
      { hostName: "backend.contoso.test", expect: "serves" },
      { hostName: "extra.contoso.test", expect: "serves" },
    ],
    exportable: true,
    ec: true,
  },
  {
    name: "a Kubernetes ca.crt bundle covers no names, needs no key and its hosts must accept requests",
    binding: aKubernetesBinding({ role: "ca", secretName: "client-ca" }),
    stage: "kubernetes",
    cover: [],
    probes: [{ hostName: "backend.contoso.test", expect: "accepts" }],
    exportable: false,
    ec: true,
  },
];

for (const c of kindCases) {
  test(c.name, () => {
    assert.equal(stageOf(c.binding), c.stage);
    assert.deepEqual(namesToCover(c.binding), c.cover);
    assert.deepEqual(probeTargets(c.binding), c.probes);
    assert.equal(requiresExportableKey(c.binding), c.exportable);
    assert.equal(acceptsEcKey(c.binding), c.ec);
    assert.ok(describeBinding(c.binding).length > 10);
  });
}

const identityCases: { name: string; a: Binding; b: Binding; same: boolean }[] = [
  {
    name: "ARM ids differing only in case name the same Front Door secret",
    a: aFrontDoorBinding(),
    b: aFrontDoorBinding({ profileId: ids.profile().toUpperCase(), secretName: "API-CONTOSO-V1" }),
    same: true,
  },
  {
    name: "two secrets in one profile are two targets on one resource",
    a: aFrontDoorBinding(),
    b: aFrontDoorBinding({ secretName: "other" }),
    same: false,
  },
  {
    name: "an APIM hostname is identified by service, type and host name",
    a: anApimHostnameBinding({ hostName: "GW.contoso.test" }),
    b: anApimHostnameBinding(),
    same: true,
  },
  {
    name: "the same host name as Proxy and as Portal are different targets",
    a: anApimHostnameBinding(),
    b: anApimHostnameBinding({ hostnameType: "Portal" }),
    same: false,
  },
  {
    name: "the tls and ca roles of one Secret are different targets",
    a: aKubernetesBinding(),
    b: aKubernetesBinding({ role: "ca" }),
    same: false,
  },
  {
    name: "the same Secret in two clusters are different targets",
    a: aKubernetesBinding(),
    b: aKubernetesBinding({ cluster: "prod" }),
    same: false,
  },
];

for (const c of identityCases) {
  test(c.name, () => {
    assert.equal(bindingId(c.a) === bindingId(c.b), c.same, `${bindingId(c.a)} vs ${bindingId(c.b)}`);
  });
}

test("bindings on one APIM service share the resource key whatever their kind", () => {
  assert.equal(resourceKey(anApimHostnameBinding()), resourceKey(anApimCertificateBinding()));
  assert.notEqual(
    resourceKey(anApimHostnameBinding()),
    resourceKey(anApimHostnameBinding({ serviceId: ids.apim("other") })),
  );
});

test("a binding serves a certificate whatever the case of the names", () => {
  assert.ok(bindsCertificate(aKubernetesBinding(), { vaultName: "KV-LAB", certificateName: "Api-Contoso" }));
  assert.ok(!bindsCertificate(aKubernetesBinding(), { vaultName: "kv-lab", certificateName: "other" }));
});

test("an explicit binding replaces the discovered one for the same target, in place", () => {
  const discovered = [aKubernetesBinding(), anApimHostnameBinding(), aFrontDoorBinding()];
  const explicitApim = anApimHostnameBinding({ source: "explicit", probeHostNames: ["x.contoso.test"] });
  const extra = aKubernetesBinding({ source: "explicit", secretName: "extra-tls" });
  const merged = mergeBindings(discovered, [explicitApim, extra]);
  assert.deepEqual(
    merged.map((b) => [b.kind, b.source]),
    [
      ["kubernetesSecret", "discovered"],
      ["apimHostname", "explicit"],
      ["frontDoorSecret", "discovered"],
      ["kubernetesSecret", "explicit"],
    ],
  );
  assert.deepEqual(merged[1], explicitApim);
});

test("duplicates among discovered bindings collapse to the first", () => {
  const first = aKubernetesBinding({ ingressHosts: ["a.contoso.test"] });
  const merged = mergeBindings([first, aKubernetesBinding({ ingressHosts: ["b.contoso.test"] })], []);
  assert.deepEqual(merged, [first]);
});

const all: Binding[] = [
  aKubernetesBinding(),
  aKubernetesBinding({ namespace: "edge", secretName: "edge-tls", ingressHosts: ["edge.contoso.test"] }),
  anApimHostnameBinding(),
  anApimCertificateBinding(),
  aFrontDoorBinding(),
];

const selectionCases: {
  name: string;
  selectors: string[] | undefined;
  expect: number[];
  unmatched?: string[];
}[] = [
  { name: "no selectors select everything", selectors: undefined, expect: [0, 1, 2, 3, 4] },
  { name: "a stage name selects that stage's bindings", selectors: ["apim"], expect: [2, 3] },
  {
    name: "an APIM service id in any case selects both its bindings",
    selectors: [ids.apim().toUpperCase()],
    expect: [2, 3],
  },
  { name: "a host name selects the bindings that serve it", selectors: ["Edge.Contoso.Test"], expect: [1] },
  { name: "namespace/secret selects a Kubernetes Secret", selectors: ["api/api-tls"], expect: [0] },
  { name: "a binding id selects exactly that binding", selectors: [bindingId(all[4]!)], expect: [4] },
  {
    name: "selectors that match nothing are reported back",
    selectors: ["frontDoor", "nope.contoso.test", "ghost/secret"],
    expect: [4],
    unmatched: ["nope.contoso.test", "ghost/secret"],
  },
];

for (const c of selectionCases) {
  test(c.name, () => {
    const r = selectTargets(all, c.selectors);
    assert.deepEqual(
      r.selected,
      c.expect.map((i) => all[i]),
    );
    assert.deepEqual(r.unmatched, c.unmatched ?? []);
  });
}

const validFile = {
  version: 1,
  bindings: [
    {
      kind: "kubernetesSecret",
      certificate: "kv-lab/api-contoso",
      cluster: "lab",
      namespace: "api",
      secretName: "api-tls",
      ingressHosts: ["backend.contoso.test"],
    },
    {
      kind: "apimHostname",
      certificate: { vaultName: "kv-lab", certificateName: "api-contoso" },
      serviceId: ids.apim(),
      hostName: "gw.contoso.test",
    },
    {
      kind: "apimCertificate",
      certificate: "kv-lab/client",
      serviceId: ids.apim(),
      certificateId: "backend-client",
    },
    {
      kind: "frontDoorSecret",
      certificate: "kv-lab/api-contoso",
      profileId: ids.profile(),
      secretName: "api",
      customDomains: [{ name: "api", hostName: "*.contoso.test" }],
    },
  ],
};

test("a valid bindings file yields explicit bindings with defaults filled in", () => {
  const r = parseBindingsFile(validFile);
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.bindings.length, 4);
  assert.ok(r.bindings.every((b) => b.source === "explicit"));
  const [k8s, apim, cert] = r.bindings;
  assert.deepEqual(k8s?.certificate, CERT);
  assert.equal(k8s?.kind === "kubernetesSecret" && k8s.role, "tls");
  assert.deepEqual(k8s?.kind === "kubernetesSecret" && k8s.restartDeployments, []);
  assert.equal(apim?.kind === "apimHostname" && apim.hostnameType, "Proxy");
  assert.deepEqual(cert?.kind === "apimCertificate" && cert.backendIds, []);
});

const withBinding = (i: number, patch: Record<string, unknown>) => ({
  ...validFile,
  bindings: validFile.bindings.map((b, j) => (i === j ? { ...b, ...patch } : b)),
});

const invalidCases: { name: string; file: unknown; path: string; message: RegExp }[] = [
  { name: "a file without bindings names the missing field", file: {}, path: "bindings", message: /./ },
  {
    name: "an unknown kind names the kind field",
    file: withBinding(1, { kind: "appGateway" }),
    path: "bindings[1].kind",
    message: /kind must be one of/,
  },
  {
    name: "an APIM service id of the wrong provider names serviceId",
    file: withBinding(1, { serviceId: ids.profile() }),
    path: "bindings[1].serviceId",
    message: /Microsoft\.ApiManagement\/service/,
  },
  {
    name: "a host name with a path names the nested field",
    file: withBinding(3, { customDomains: [{ name: "api", hostName: "api.contoso.test/x" }] }),
    path: "bindings[3].customDomains[0].hostName",
    message: /DNS host name/,
  },
  {
    name: "an upper-case Secret name is refused",
    file: withBinding(0, { secretName: "API_TLS" }),
    path: "bindings[0].secretName",
    message: /Kubernetes object name/,
  },
  {
    name: "a certificate reference without a vault is refused",
    file: withBinding(0, { certificate: "api-contoso" }),
    path: "bindings[0].certificate",
    message: /vault\/certificate/,
  },
  {
    name: "a misspelt field is refused rather than ignored",
    file: withBinding(0, { ingresHosts: ["x.contoso.test"] }),
    path: "bindings[0]",
    message: /ingresHosts/,
  },
  {
    name: "a Front Door binding without custom domains is refused",
    file: withBinding(3, { customDomains: [] }),
    path: "bindings[3].customDomains",
    message: /at least one/,
  },
  {
    name: "a role other than tls or ca is refused",
    file: withBinding(0, { role: "key" }),
    path: "bindings[0].role",
    message: /./,
  },
];

for (const c of invalidCases) {
  test(c.name, () => {
    const r = parseBindingsFile(c.file);
    assert.ok(!r.ok, "expected the file to be refused");
    const hit = r.errors.find((e) => e.path === c.path);
    assert.ok(hit, `no error at ${c.path}: ${JSON.stringify(r.errors)}`);
    assert.match(hit.message, c.message);
  });
}

test("parsing never throws, whatever the input", () => {
  for (const input of [null, 42, "text", [], { bindings: "x" }, { bindings: [null] }]) {
    assert.equal(parseBindingsFile(input).ok, false);
  }
});

// ---------------------------------------------------------------------------------------------
// Probe addresses (S11): where a probe connects when the host name resolves to another hop

const addressCases: { text: string; parsed: { address: string; port: number } | undefined }[] = [
  { text: "10.1.2.3:443", parsed: { address: "10.1.2.3", port: 443 } },
  {
    text: " APIM-Contoso.Azure-API.net:8443 ",
    parsed: { address: "apim-contoso.azure-api.net", port: 8443 },
  },
  { text: "10.1.2.3", parsed: { address: "10.1.2.3", port: 443 } },
  { text: "[FD00::1]:443", parsed: { address: "fd00::1", port: 443 } },
  { text: "[fd00::1]", parsed: { address: "fd00::1", port: 443 } },
  { text: "fd00::1", parsed: undefined },
  { text: "10.1.2.3:0", parsed: undefined },
  { text: "10.1.2.3:65536", parsed: undefined },
  { text: "https://apim-contoso.azure-api.net", parsed: undefined },
  { text: "*.contoso.com:443", parsed: undefined },
  { text: "[not-an-ip]:443", parsed: undefined },
  { text: "", parsed: undefined },
];

for (const c of addressCases) {
  test(`the probe address '${c.text}' ${c.parsed ? "parses" : "is refused"}`, () => {
    assert.deepEqual(parseProbeAddress(c.text), c.parsed);
  });
}

test("a binding's file addresses are carried into each of its probes, marked explicit", () => {
  const b = aKubernetesBinding({
    ingressHosts: ["api.contoso.com", "www.contoso.com"],
    probeAddresses: [
      { address: "10.1.2.3", port: 443 },
      { address: "10.1.2.3", port: 443 },
    ],
    discoveredAddresses: [{ address: "10.9.9.9", port: 443 }],
  });
  const connectTo = { source: "explicit", addresses: [{ address: "10.1.2.3", port: 443 }] };
  assert.deepEqual(probeTargets(b), [
    { hostName: "api.contoso.com", expect: "serves", connectTo },
    { hostName: "www.contoso.com", expect: "serves", connectTo },
  ]);
});

test("without file addresses the discovered ones are used; an empty file list means resolve the name", () => {
  const found = [{ address: "apim-contoso.azure-api.net", port: 443 }];
  assert.deepEqual(probeTargets(anApimHostnameBinding({ discoveredAddresses: found })), [
    { hostName: "gw.contoso.test", expect: "serves", connectTo: { source: "discovered", addresses: found } },
  ]);
  assert.deepEqual(probeTargets(anApimHostnameBinding({ discoveredAddresses: found, probeAddresses: [] })), [
    { hostName: "gw.contoso.test", expect: "serves" },
  ]);
});

test("probes of one host at different addresses are different probes", () => {
  const [a] = probeTargets(anApimHostnameBinding({ probeAddresses: [{ address: "10.0.0.1", port: 443 }] }));
  const [b] = probeTargets(anApimHostnameBinding({ probeAddresses: [{ address: "10.0.0.2", port: 443 }] }));
  const [c] = probeTargets(anApimHostnameBinding({ hostName: "GW.contoso.test" }));
  assert.notEqual(probeKey(a!), probeKey(b!));
  assert.notEqual(probeKey(a!), probeKey(c!));
  assert.equal(probeKey(c!), probeKey(probeTargets(anApimHostnameBinding())[0]!));
});

test("an explicit binding keeps the addresses discovery found for its target unless it names its own", () => {
  const found = [{ address: "10.240.0.7", port: 443 }];
  const discovered = [aKubernetesBinding({ discoveredAddresses: found })];
  const plain = aKubernetesBinding({ source: "explicit", restartDeployments: ["backend"] });
  const [merged] = mergeBindings(discovered, [plain]);
  assert.equal(merged?.source, "explicit");
  assert.deepEqual(merged?.kind === "kubernetesSecret" && merged.restartDeployments, ["backend"]);
  assert.deepEqual(merged?.discoveredAddresses, found);
  const own = aKubernetesBinding({
    source: "explicit",
    probeAddresses: [{ address: "10.1.2.3", port: 443 }],
  });
  const [ownMerged] = mergeBindings(discovered, [own]);
  assert.deepEqual(probeTargets(ownMerged!)[0]?.connectTo, {
    source: "explicit",
    addresses: [{ address: "10.1.2.3", port: 443 }],
  });
});

test("a bindings file with probeAddresses validates into structured addresses", () => {
  const r = parseBindingsFile(
    withBinding(1, { probeAddresses: ["10.1.2.3:443", "apim-contoso.azure-api.net:443", "[fd00::5]"] }),
  );
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.bindings[1]?.probeAddresses, [
    { address: "10.1.2.3", port: 443 },
    { address: "apim-contoso.azure-api.net", port: 443 },
    { address: "fd00::5", port: 443 },
  ]);
  assert.equal(r.bindings[0]?.probeAddresses, undefined);
});

const badAddressCases: { name: string; file: unknown; path: string; message: RegExp }[] = [
  {
    name: "a probe address with a URL scheme names the list entry",
    file: withBinding(1, { probeAddresses: ["10.1.2.3:443", "https://apim-contoso.azure-api.net"] }),
    path: "bindings[1].probeAddresses[1]",
    message: /address:port.*'https:\/\/apim-contoso\.azure-api\.net' is not one/,
  },
  {
    name: "a probe address with a port out of range names the list entry",
    file: withBinding(0, { probeAddresses: ["10.1.2.3:99999"] }),
    path: "bindings[0].probeAddresses[0]",
    message: /port 1-65535/,
  },
  {
    name: "probeAddresses that is not a list is refused",
    file: withBinding(2, { probeAddresses: "10.1.2.3:443" }),
    path: "bindings[2].probeAddresses",
    message: /./,
  },
  {
    name: "discoveredAddresses cannot be written in the file",
    file: withBinding(0, { discoveredAddresses: [{ address: "10.1.2.3", port: 443 }] }),
    path: "bindings[0]",
    message: /discoveredAddresses/,
  },
];

for (const c of badAddressCases) {
  test(c.name, () => {
    const r = parseBindingsFile(c.file);
    assert.ok(!r.ok, "expected the file to be refused");
    const hit = r.errors.find((e) => e.path === c.path);
    assert.ok(hit, `no error at ${c.path}: ${JSON.stringify(r.errors)}`);
    assert.match(hit.message, c.message);
  });
}
