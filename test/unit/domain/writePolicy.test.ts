import { test } from "node:test";
import assert from "node:assert/strict";
import type { Binding } from "../../../src/domain/bindings.js";
import {
  applyWritePolicy,
  parseWriteTarget,
  writeAllowed,
  type WritePolicy,
  type WriteTarget,
} from "../../../src/domain/writePolicy.js";
import { loadConfig } from "../../../src/config.js";
import {
  aFrontDoorBinding,
  aKubernetesBinding,
  anApimCertificateBinding,
  anApimHostnameBinding,
  ids,
} from "../../support/bindingBuilders.js";

const CLUSTER = `/subscriptions/${ids.sub}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-lab`;
const policy = (rules: Record<string, string[]>): WritePolicy =>
  new Map(Object.entries(rules).map(([k, v]) => [k, v.map((t) => parseWriteTarget(t) as WriteTarget)]));
const tlsIn = (namespace: string, over: Partial<Binding> = {}) =>
  aKubernetesBinding({ cluster: CLUSTER, namespace, ...(over as object) });

const cases: { name: string; policy: WritePolicy; binding: Binding; allowed: boolean }[] = [
  {
    name: "without a rule, an annotated tls Secret never receives a private key",
    policy: policy({}),
    binding: tlsIn("api"),
    allowed: false,
  },
  {
    name: "without a rule, a tls Secret the bindings file names is written",
    policy: policy({}),
    binding: tlsIn("api", { source: "explicit" }),
    allowed: true,
  },
  {
    name: "without a rule, an annotated ca Secret (public certificates only) is written",
    policy: policy({}),
    binding: tlsIn("ops", { role: "ca" }),
    allowed: true,
  },
  {
    name: "without a rule, APIM and Front Door targets in the scopes are written",
    policy: policy({}),
    binding: aFrontDoorBinding(),
    allowed: true,
  },
  {
    name: "a vault rule lets its namespace receive the key",
    policy: policy({ "kv-lab": ["aks-lab/api"] }),
    binding: tlsIn("api"),
    allowed: true,
  },
  {
    name: "a vault rule keeps the key out of a namespace it does not name",
    policy: policy({ "kv-lab": ["aks-lab/api"] }),
    binding: tlsIn("ops"),
    allowed: false,
  },
  {
    name: "a vault rule keeps even a file-named Secret out of a namespace it does not name",
    policy: policy({ "kv-lab": ["aks-lab/api"] }),
    binding: tlsIn("ops", { source: "explicit" }),
    allowed: false,
  },
  {
    name: "a vault rule restricts ca Secrets too, once it names Kubernetes",
    policy: policy({ "kv-lab": ["aks-lab/api"] }),
    binding: tlsIn("ops", { role: "ca" }),
    allowed: false,
  },
  {
    name: "a vault rule for another cluster does not cover this one",
    policy: policy({ "kv-lab": ["aks-other/api"] }),
    binding: tlsIn("api"),
    allowed: false,
  },
  {
    name: "a wildcard cluster covers the namespace in any cluster",
    policy: policy({ "kv-lab": ["*/api"] }),
    binding: tlsIn("api"),
    allowed: true,
  },
  {
    name: "a certificate's own rule replaces its vault's",
    policy: policy({ "kv-lab": ["aks-lab/api"], "kv-lab/api-contoso": ["aks-lab/ops"] }),
    binding: tlsIn("api"),
    allowed: false,
  },
  {
    name: "another vault's rule does not open this vault",
    policy: policy({ "kv-other": ["aks-lab/api"] }),
    binding: tlsIn("api"),
    allowed: false,
  },
  {
    name: "a rule naming only Kubernetes leaves APIM on the default (written)",
    policy: policy({ "kv-lab": ["aks-lab/api"] }),
    binding: anApimHostnameBinding(),
    allowed: true,
  },
  {
    name: "a rule naming an APIM service keeps another service's entity out",
    policy: policy({ "kv-lab": ["apim:apim-other"] }),
    binding: anApimCertificateBinding(),
    allowed: false,
  },
  {
    name: "a rule naming the APIM service lets it be written",
    policy: policy({ "kv-lab": ["apim:APIM-LAB"] }),
    binding: anApimCertificateBinding(),
    allowed: true,
  },
  {
    name: "a rule naming a Front Door profile keeps another profile out",
    policy: policy({ "kv-lab": ["frontDoor:fd-other"] }),
    binding: aFrontDoorBinding(),
    allowed: false,
  },
];

for (const c of cases) {
  test(c.name, () => {
    assert.equal(writeAllowed(c.policy, c.binding), c.allowed);
  });
}

test("an ignored binding is named with the reason and the sentence that says nothing was written", () => {
  const { allowed, ignored } = applyWritePolicy(policy({ "kv-lab": ["aks-lab/api"] }), [
    tlsIn("api"),
    tlsIn("ops", { secretName: "stolen" }),
  ]);
  assert.equal(allowed.length, 1);
  assert.equal(ignored.length, 1);
  assert.equal(ignored[0]!.reason, "OutsideWritePolicy");
  assert.match(ignored[0]!.message, /ops\/stolen.*WRITE_POLICY.*nothing was written/);
});

test("WRITE_POLICY parses vault and certificate rules with every kind of target", () => {
  const config = loadConfig({
    ALLOWED_VAULT_URLS: "https://kv-lab.vault.azure.net",
    OUTCOME_TOPIC_ENDPOINT: "https://topic.westeurope-1.eventgrid.azure.net/api/events",
    AzureWebJobsStorage: "UseDevelopmentStorage=true",
    WRITE_POLICY: "KV-Lab=aks-lab/api|apim:apim-lab|frontDoor:fd-lab, kv-lab/partner=*/partner",
  });
  assert.deepEqual(
    [...config.discovery.writePolicy.entries()],
    [
      [
        "kv-lab",
        [
          { kind: "kubernetes", cluster: "aks-lab", namespace: "api" },
          { kind: "apim", service: "apim-lab" },
          { kind: "frontDoor", profile: "fd-lab" },
        ],
      ],
      ["kv-lab/partner", [{ kind: "kubernetes", cluster: "*", namespace: "partner" }]],
    ],
  );
});

test("a WRITE_POLICY entry that is no rule stops the app with a sentence naming the setting", () => {
  assert.throws(
    () =>
      loadConfig({
        ALLOWED_VAULT_URLS: "https://kv-lab.vault.azure.net",
        OUTCOME_TOPIC_ENDPOINT: "https://topic.westeurope-1.eventgrid.azure.net/api/events",
        AzureWebJobsStorage: "UseDevelopmentStorage=true",
        WRITE_POLICY: "kv-lab=anything",
      }),
    /App setting WRITE_POLICY must list vault\[\/certificate\]=target.*'kv-lab=anything'/,
  );
});
