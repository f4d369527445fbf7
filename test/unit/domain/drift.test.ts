import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decideDriftRepair,
  judgeDrift,
  type BindingObservation,
  type DriftAction,
  type DriftClass,
  type DriftOptions,
  type VaultCurrent,
} from "../../../src/domain/drift.js";
import { NOW, daysFrom } from "../../support/certificateBuilders.js";
import { aDriftOptions } from "../../support/policyBuilders.js";

const T_NEW = "1".repeat(40);
const T_OLD = "2".repeat(40);
const T_FOREIGN = "3".repeat(40);

const vault: VaultCurrent = {
  version: "v2",
  thumbprint: T_NEW,
  notAfter: daysFrom(NOW, 80).toISOString(),
  previous: [{ version: "v1", thumbprint: T_OLD }],
};

/** An observation of a binding that is in sync; override parts to make it drift. */
function anObservation(over: Partial<BindingObservation> = {}): BindingObservation {
  return {
    bindingId: "apim:gw",
    configured: { status: "version", version: "v2" },
    served: [{ hostName: "gw.contoso.test", status: "served", thumbprint: T_NEW }],
    ...over,
  };
}

const cases: {
  name: string;
  obs: BindingObservation;
  vault?: VaultCurrent;
  options?: Partial<DriftOptions>;
  classification: DriftClass;
  action: DriftAction;
  reason: string;
  message?: RegExp;
}[] = [
  {
    name: "configured and serving the current version is in sync",
    obs: anObservation(),
    classification: "InSync",
    action: "none",
    reason: "InSync",
  },
  {
    name: "thumbprints compare whatever their case or separators",
    obs: anObservation({
      served: [
        {
          hostName: "gw.contoso.test",
          status: "served",
          thumbprint: T_NEW.toLowerCase().replace(/(..)/g, "$1:"),
        },
      ],
    }),
    classification: "InSync",
    action: "none",
    reason: "InSync",
  },
  {
    name: "a versionless reference serving the current version is in sync",
    obs: anObservation({ configured: { status: "latest" } }),
    classification: "InSync",
    action: "none",
    reason: "InSync",
  },
  {
    name: "a binding nothing can probe but configured right is in sync, and says it was not seen",
    obs: anObservation({ served: [{ hostName: "gw.contoso.test", status: "notProbed" }] }),
    classification: "InSync",
    action: "none",
    reason: "InSync",
    message: /no endpoint shows/,
  },
  {
    name: "a resource configured with an older version is ConfiguredStale and gets a rollout",
    obs: anObservation({
      configured: { status: "version", version: "v1" },
      served: [{ hostName: "gw.contoso.test", status: "served", thumbprint: T_OLD }],
    }),
    classification: "ConfiguredStale",
    action: "startRollout",
    reason: "ConfiguredStale",
    message: /configured with version v1; the vault's current version is v2/,
  },
  {
    name: "configured right but serving the old version is ServingStale and gets a rollout",
    obs: anObservation({
      configured: { status: "latest" },
      served: [{ hostName: "gw.contoso.test", status: "served", thumbprint: T_OLD }],
    }),
    classification: "ServingStale",
    action: "startRollout",
    reason: "ServingStale",
    message: /\(version v1\)/,
  },
  {
    name: "a Secret changed by hand to a foreign certificate is ServingUnknown and gets a rollout",
    obs: anObservation({
      served: [{ hostName: "backend.contoso.test", status: "served", thumbprint: T_FOREIGN }],
    }),
    classification: "ServingUnknown",
    action: "startRollout",
    reason: "ServingUnknown",
    message: /no version of this certificate/,
  },
  {
    name: "one foreign host among stale ones makes the binding ServingUnknown",
    obs: anObservation({
      served: [
        { hostName: "a.contoso.test", status: "served", thumbprint: T_OLD },
        { hostName: "b.contoso.test", status: "served", thumbprint: T_FOREIGN },
      ],
    }),
    classification: "ServingUnknown",
    action: "startRollout",
    reason: "ServingUnknown",
  },
  {
    name: "an unreachable endpoint is reported, not repaired",
    obs: anObservation({
      served: [{ hostName: "gw.contoso.test", status: "unreachable", message: "connect ECONNREFUSED" }],
    }),
    classification: "Unreachable",
    action: "reportOnly",
    reason: "Unreachable",
    message: /ECONNREFUSED/,
  },
  {
    name: "a wrong certificate on one host outweighs another host being unreachable",
    obs: anObservation({
      served: [
        { hostName: "a.contoso.test", status: "unreachable", message: "timeout" },
        { hostName: "b.contoso.test", status: "served", thumbprint: T_OLD },
      ],
    }),
    classification: "ServingStale",
    action: "startRollout",
    reason: "ServingStale",
  },
  {
    name: "a configuration that names no version is reported, not repaired",
    obs: anObservation({
      configured: { status: "unknown", message: "the Secret has no version annotation." },
    }),
    classification: "ConfigurationUnknown",
    action: "reportOnly",
    reason: "ConfigurationUnknown",
  },
  {
    name: "a Secret replaced by hand names no version but serves a foreign leaf: ServingUnknown, repaired",
    obs: anObservation({
      configured: { status: "unknown", message: "Secret api/backend-tls names no vault version." },
      served: [{ hostName: "backend.contoso.test", status: "served", thumbprint: T_FOREIGN }],
    }),
    classification: "ServingUnknown",
    action: "startRollout",
    reason: "ServingUnknown",
    message: /names no vault version\. .*no version of this certificate/,
  },
  {
    name: "a configuration that names no version while an endpoint is unreachable is only reported",
    obs: anObservation({
      configured: { status: "unknown", message: "Secret api/backend-tls does not exist." },
      served: [{ hostName: "backend.contoso.test", status: "unreachable", message: "timeout" }],
    }),
    classification: "ConfigurationUnknown",
    action: "reportOnly",
    reason: "ConfigurationUnknown",
  },
  {
    name: "in report mode drift is only reported",
    obs: anObservation({ configured: { status: "version", version: "v1" } }),
    options: { mode: "report" },
    classification: "ConfiguredStale",
    action: "reportOnly",
    reason: "ReportOnlyMode",
  },
  {
    name: "while a rollout of the certificate runs, drift is only reported",
    obs: anObservation({ served: [{ hostName: "gw.contoso.test", status: "served", thumbprint: T_OLD }] }),
    options: { rolloutInProgress: true },
    classification: "ServingStale",
    action: "reportOnly",
    reason: "RolloutInProgress",
  },
  {
    name: "an expired current version in the vault is not rolled out, only reported",
    obs: anObservation({ configured: { status: "version", version: "v1" } }),
    vault: { ...vault, notAfter: daysFrom(NOW, -1).toISOString() },
    classification: "ConfiguredStale",
    action: "reportOnly",
    reason: "VaultVersionExpired",
    message: /renew it/,
  },
  {
    name: "in sync, but the current version expires within the minimum validity: ExpiringSoon, renewed",
    obs: anObservation(),
    vault: { ...vault, notAfter: daysFrom(NOW, 10).toISOString() },
    options: { minRemainingValidityDays: 30, renew: true },
    classification: "ExpiringSoon",
    action: "renew",
    reason: "ExpiringSoon",
    message: /expires at .* within 30 days\. Renewing it in Key Vault/,
  },
  {
    name: "a current version with more validity left than the minimum is in sync",
    obs: anObservation(),
    vault: { ...vault, notAfter: daysFrom(NOW, 40).toISOString() },
    options: { minRemainingValidityDays: 30, renew: true },
    classification: "InSync",
    action: "none",
    reason: "InSync",
  },
  {
    name: "an expiring version is only reported when the scan may not renew (external issuer, renewal off)",
    obs: anObservation(),
    vault: { ...vault, notAfter: daysFrom(NOW, 10).toISOString() },
    options: { minRemainingValidityDays: 30, renew: false },
    classification: "ExpiringSoon",
    action: "reportOnly",
    reason: "ExpiringSoon",
    message: /renew it/,
  },
  {
    name: "an expiring version in report mode is only reported",
    obs: anObservation(),
    vault: { ...vault, notAfter: daysFrom(NOW, 10).toISOString() },
    options: { minRemainingValidityDays: 30, renew: true, mode: "report" },
    classification: "ExpiringSoon",
    action: "reportOnly",
    reason: "ReportOnlyMode",
  },
  {
    name: "a drifted binding of a held current version is only reported, saying it is held",
    obs: anObservation({ configured: { status: "version", version: "v1" } }),
    options: { held: { version: "V2", message: "Version v2 is held: its rollout ended RolledBack." } },
    classification: "ConfiguredStale",
    action: "reportOnly",
    reason: "VersionHeld",
    message: /held: its rollout ended RolledBack/,
  },
  {
    name: "a held older version does not stop the repair of the current one",
    obs: anObservation({ configured: { status: "version", version: "v1" } }),
    options: { held: { version: "v1", message: "Version v1 is held." } },
    classification: "ConfiguredStale",
    action: "startRollout",
    reason: "ConfiguredStale",
  },
  {
    name: "a held current version that expires is still renewed (a renewal makes a newer version)",
    obs: anObservation({ configured: { status: "version", version: "v1" } }),
    vault: { ...vault, notAfter: daysFrom(NOW, 5).toISOString() },
    options: { minRemainingValidityDays: 30, renew: true, held: { version: "v2", message: "held" } },
    classification: "ConfiguredStale",
    action: "renew",
    reason: "ExpiringSoon",
  },
  {
    name: "a drifted binding of an expired current version is renewed, not given the expired version",
    obs: anObservation({ configured: { status: "version", version: "v1" } }),
    vault: { ...vault, notAfter: daysFrom(NOW, -1).toISOString() },
    options: { minRemainingValidityDays: 30, renew: true },
    classification: "ConfiguredStale",
    action: "renew",
    reason: "VaultVersionExpired",
  },
];

for (const c of cases) {
  test(c.name, () => {
    const v = judgeDrift(c.obs, c.vault ?? vault, NOW, aDriftOptions(c.options));
    assert.equal(v.classification, c.classification, v.message);
    assert.equal(v.action, c.action);
    assert.equal(v.reason, c.reason);
    assert.equal(v.bindingId, c.obs.bindingId);
    if (c.message) assert.match(v.message, c.message);
  });
}

test("drifted bindings of one certificate are repaired by one rollout to the current version, for them only", () => {
  const d = decideDriftRepair(
    [
      anObservation({ bindingId: "k8s" }),
      anObservation({ bindingId: "apim", configured: { status: "version", version: "v1" } }),
      anObservation({
        bindingId: "fd",
        served: [{ hostName: "api.contoso.test", status: "served", thumbprint: T_FOREIGN }],
      }),
      anObservation({
        bindingId: "down",
        served: [{ hostName: "x.contoso.test", status: "unreachable", message: "timeout" }],
      }),
    ],
    vault,
    NOW,
    aDriftOptions(),
  );
  assert.deepEqual(
    d.verdicts.map((v) => v.action),
    ["none", "startRollout", "startRollout", "reportOnly"],
  );
  assert.deepEqual(d.rollout?.targets, ["apim", "fd"]);
  assert.equal(d.rollout?.version, "v2");
  assert.equal(d.rollout?.reason, "Drift");
  assert.match(d.rollout?.message ?? "", /2 of 4 binding\(s\) drifted/);
});

test("nothing drifted means no rollout", () => {
  const d = decideDriftRepair(
    [anObservation(), anObservation({ bindingId: "b" })],
    vault,
    NOW,
    aDriftOptions(),
  );
  assert.equal(d.rollout, undefined);
  assert.equal(d.verdicts.length, 2);
});

test("an expiring current version is renewed once for the certificate instead of rolled out", () => {
  const d = decideDriftRepair(
    [
      anObservation({ bindingId: "k8s" }),
      anObservation({ bindingId: "apim", configured: { status: "version", version: "v1" } }),
    ],
    { ...vault, notAfter: daysFrom(NOW, 5).toISOString() },
    NOW,
    aDriftOptions({ minRemainingValidityDays: 30, renew: true }),
  );
  assert.equal(d.rollout, undefined);
  assert.deepEqual(
    { version: d.renewal?.version, targets: d.renewal?.targets, reason: d.renewal?.reason },
    { version: "v2", targets: ["k8s", "apim"], reason: "ExpiringSoon" },
  );
});

test("a held current version starts no rollout and names the bindings it left alone", () => {
  const d = decideDriftRepair(
    [
      anObservation({ bindingId: "k8s", configured: { status: "version", version: "v1" } }),
      anObservation({ bindingId: "apim" }),
    ],
    vault,
    NOW,
    aDriftOptions({ held: { version: "v2", message: "Version v2 is held." } }),
  );
  assert.equal(d.rollout, undefined);
  assert.deepEqual(d.held, { version: "v2", targets: ["k8s"], message: "Version v2 is held." });
});
