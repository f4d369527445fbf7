import { test } from "node:test";
import assert from "node:assert/strict";
import { bindingId, type Binding } from "../../../src/domain/bindings.js";
import {
  buildPlan,
  frontDoorSecretName,
  planSteps,
  versionedSecretId,
  type BuildPlanInput,
  type Plan,
  type PlanCertificate,
  type PlanErrorReason,
} from "../../../src/domain/plan.js";
import {
  CERT,
  aFrontDoorBinding,
  aKubernetesBinding,
  anApimCertificateBinding,
  anApimHostnameBinding,
  ids,
} from "../../support/bindingBuilders.js";
import { aStagePolicy } from "../../support/policyBuilders.js";

const VERSION = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const certificate: PlanCertificate = {
  ...CERT,
  vaultUrl: "https://kv-lab.vault.azure.net/",
  version: VERSION,
  vaultResourceId: ids.vault(),
};

function plan(bindings: Binding[], extra: Partial<BuildPlanInput> = {}): Plan {
  const r = buildPlan({ certificate, bindings, policy: aStagePolicy(), ...extra });
  assert.ok(r.ok, JSON.stringify(r));
  return r.plan;
}

const fullChain = (): Binding[] => [
  aFrontDoorBinding(),
  anApimHostnameBinding(),
  aKubernetesBinding(),
  anApimCertificateBinding(),
];

test("stages go inner to outer by default: kubernetes, then apim, then frontDoor, each with its deadline", () => {
  const p = plan(fullChain());
  assert.deepEqual(
    p.stages.map((s) => [s.index, s.stage]),
    [
      [1, "kubernetes"],
      [2, "apim"],
      [3, "frontDoor"],
    ],
  );
  assert.deepEqual(
    p.stages.map((s) => s.probeDeadlineSeconds),
    [300, 3600, 86400],
  );
});

test("a configured order is followed and stages without bindings are left out", () => {
  const p = plan([anApimHostnameBinding(), aFrontDoorBinding()], {
    policy: aStagePolicy({
      order: ["frontDoor", "apim", "kubernetes"],
      probeDeadlineSeconds: { kubernetes: 1, apim: 2, frontDoor: 3 },
    }),
  });
  assert.deepEqual(
    p.stages.map((s) => [s.index, s.stage, s.probeDeadlineSeconds]),
    [
      [1, "frontDoor", 3],
      [2, "apim", 2],
    ],
  );
});

test("all hostnames and certificate entities of one APIM service go in one update", () => {
  const p = plan([
    anApimHostnameBinding({ hostName: "gw.contoso.test" }),
    anApimHostnameBinding({ hostName: "portal.contoso.test", hostnameType: "DeveloperPortal" }),
    anApimCertificateBinding({ probeHostNames: ["gw.contoso.test"] }),
    anApimHostnameBinding({ serviceId: ids.apim("apim-other"), hostName: "gw2.contoso.test" }),
  ]);
  const steps = planSteps(p);
  assert.equal(steps.length, 2);
  const [lab, other] = steps;
  assert.ok(lab?.kind === "apimService" && other?.kind === "apimService");
  assert.deepEqual(lab.hostnames, [
    { type: "Proxy", hostName: "gw.contoso.test" },
    { type: "DeveloperPortal", hostName: "portal.contoso.test" },
  ]);
  assert.deepEqual(lab.certificates, [{ certificateId: "backend-client", backendIds: ["aks-backend"] }]);
  assert.equal(lab.keyVaultSecretId, `https://kv-lab.vault.azure.net/secrets/api-contoso/${VERSION}`);
  assert.deepEqual(lab.probes, [
    { hostName: "gw.contoso.test", expect: "serves" },
    { hostName: "portal.contoso.test", expect: "serves" },
    { hostName: "gw.contoso.test", expect: "accepts" },
  ]);
  assert.equal(lab.bindingIds.length, 3);
  assert.deepEqual(other.hostnames, [{ type: "Proxy", hostName: "gw2.contoso.test" }]);
});

test("the tls and ca roles of one Secret are one write; other Secrets get their own", () => {
  const p = plan([
    aKubernetesBinding({ restartDeployments: ["backend"] }),
    aKubernetesBinding({ role: "ca", restartDeployments: ["backend", "worker"] }),
    aKubernetesBinding({ secretName: "other-tls", ingressHosts: ["other.contoso.test"] }),
  ]);
  const steps = planSteps(p);
  assert.equal(steps.length, 2);
  const [first, second] = steps;
  assert.ok(first?.kind === "kubernetesSecret" && second?.kind === "kubernetesSecret");
  assert.deepEqual(
    [first.secretName, first.writeTls, first.writeCa, first.restartDeployments],
    ["api-tls", true, true, ["backend", "worker"]],
  );
  assert.deepEqual([second.secretName, second.writeTls, second.writeCa], ["other-tls", true, false]);
  assert.match(first.description, /tls\.crt\/tls\.key and ca\.crt.*restart backend, worker/);
});

test("one Front Door profile gets one new secret and every custom domain repointed, remembering the old secret", () => {
  const p = plan([
    aFrontDoorBinding({
      secretName: "old-a",
      customDomains: [{ name: "api", hostName: "API.contoso.test" }],
    }),
    aFrontDoorBinding({
      secretName: "old-b",
      customDomains: [
        { name: "www", hostName: "www.contoso.test" },
        { name: "api", hostName: "api.contoso.test" },
      ],
    }),
  ]);
  const steps = planSteps(p);
  assert.equal(steps.length, 1);
  const fd = steps[0];
  assert.ok(fd?.kind === "frontDoorProfile");
  assert.equal(fd.newSecretName, `api-contoso-${VERSION}`);
  assert.equal(fd.secretSourceId, `${ids.vault()}/secrets/api-contoso`);
  assert.equal(fd.secretVersion, VERSION);
  assert.deepEqual(fd.customDomains, [
    { name: "api", hostName: "api.contoso.test", previousSecretName: "old-a" },
    { name: "www", hostName: "www.contoso.test", previousSecretName: "old-b" },
  ]);
});

test("a plan carries references only and survives JSON", () => {
  const p = plan(fullChain(), { dryRun: true });
  assert.deepEqual(JSON.parse(JSON.stringify(p)), p);
  assert.equal(p.dryRun, true);
  assert.equal(p.certificate.secretId, versionedSecretId(certificate));
  assert.equal(p.certificate.vaultUrl, "https://kv-lab.vault.azure.net");
  assert.deepEqual(p.bindingIds, fullChain().map(bindingId));
  const text = JSON.stringify(p);
  assert.doesNotMatch(text, /PRIVATE KEY|tls\.key"\s*:/);
});

test("step ids are unique and stable for the same bindings", () => {
  const a = planSteps(plan(fullChain())).map((s) => s.stepId);
  const b = planSteps(plan(fullChain().reverse())).map((s) => s.stepId);
  assert.equal(new Set(a).size, a.length);
  assert.deepEqual([...a].sort(), [...b].sort());
});

test("Front Door secret names are valid resource names", () => {
  assert.equal(frontDoorSecretName("api_contoso", "v1"), "api-contoso-v1");
});

const refusals: { name: string; input: Partial<BuildPlanInput>; reason: PlanErrorReason; message: RegExp }[] =
  [
    {
      name: "no bindings means no plan",
      input: { bindings: [] },
      reason: "NoBindings",
      message: /No target is bound to kv-lab\/api-contoso/,
    },
    {
      name: "a binding of another certificate is refused",
      input: {
        bindings: [aKubernetesBinding({ certificate: { vaultName: "kv-lab", certificateName: "other" } })],
      },
      reason: "ForeignBinding",
      message: /serves kv-lab\/other/,
    },
    {
      name: "an order that repeats a stage is refused",
      input: {
        bindings: [aKubernetesBinding()],
        policy: aStagePolicy({ order: ["kubernetes", "kubernetes"] }),
      },
      reason: "InvalidStageOrder",
      message: /repeats/,
    },
    {
      name: "an order that leaves out a stage with bindings is refused",
      input: {
        bindings: [aKubernetesBinding(), anApimHostnameBinding()],
        policy: aStagePolicy({ order: ["kubernetes"] }),
      },
      reason: "InvalidStageOrder",
      message: /leaves out apim/,
    },
    {
      name: "a Front Door binding without the vault's ARM id is refused",
      input: { bindings: [aFrontDoorBinding()], certificate: { ...certificate, vaultResourceId: undefined } },
      reason: "VaultResourceIdRequired",
      message: /ARM id of vault kv-lab/,
    },
  ];

for (const c of refusals) {
  test(c.name, () => {
    const r = buildPlan({ certificate, bindings: fullChain(), policy: aStagePolicy(), ...c.input });
    assert.ok(!r.ok);
    assert.equal(r.reason, c.reason);
    assert.match(r.message, c.message);
  });
}

test("without Front Door bindings the vault's ARM id is not needed", () => {
  const r = buildPlan({
    policy: aStagePolicy(),
    certificate: { ...certificate, vaultResourceId: undefined },
    bindings: [aKubernetesBinding()],
  });
  assert.ok(r.ok);
});

test("a step's probes carry their bindings' addresses; one host at two addresses is probed at both", () => {
  const at = (address: string) => [{ address, port: 443 }];
  const p = plan([
    anApimHostnameBinding({ probeAddresses: at("10.0.0.4") }),
    anApimCertificateBinding({ probeHostNames: ["gw.contoso.test"], discoveredAddresses: at("10.0.0.4") }),
    anApimHostnameBinding({
      serviceId: ids.apim("apim-dr"),
      hostName: "gw.contoso.test",
      discoveredAddresses: at("apim-dr.azure-api.net"),
    }),
    aKubernetesBinding({ discoveredAddresses: at("10.240.0.7") }),
  ]);
  const [k8s, apim, dr] = planSteps(p);
  assert.deepEqual(k8s?.probes, [
    {
      hostName: "backend.contoso.test",
      expect: "serves",
      connectTo: { source: "discovered", addresses: at("10.240.0.7") },
    },
  ]);
  assert.deepEqual(apim?.probes, [
    {
      hostName: "gw.contoso.test",
      expect: "serves",
      connectTo: { source: "explicit", addresses: at("10.0.0.4") },
    },
    {
      hostName: "gw.contoso.test",
      expect: "accepts",
      connectTo: { source: "discovered", addresses: at("10.0.0.4") },
    },
  ]);
  assert.deepEqual(dr?.probes, [
    {
      hostName: "gw.contoso.test",
      expect: "serves",
      connectTo: { source: "discovered", addresses: at("apim-dr.azure-api.net") },
    },
  ]);
});

test("probes that differ only in where they connect stay separate within a step", () => {
  const p = plan([
    anApimHostnameBinding({
      probeHostNames: ["extra.contoso.test"],
      probeAddresses: [{ address: "10.0.0.4", port: 443 }],
    }),
    anApimHostnameBinding({ hostnameType: "Portal", hostName: "extra.contoso.test" }),
  ]);
  const [step] = planSteps(p);
  assert.deepEqual(
    step?.probes.map((q) => [q.hostName, q.connectTo?.addresses[0]?.address ?? "dns"]),
    [
      ["gw.contoso.test", "10.0.0.4"],
      ["extra.contoso.test", "10.0.0.4"],
      ["extra.contoso.test", "dns"],
    ],
  );
});
