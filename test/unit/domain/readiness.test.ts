/**
 * Readiness judgements of a wait: from one reading of a resource, done, not yet, or failed for good.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  apimProvisioning,
  frontDoorDeployment,
  newVersionAppearance,
  probeReadiness,
  probesUnreachable,
  renewalCompletion,
  type ApimServiceReading,
  type CertificateReading,
  type FrontDoorDomainReading,
  type Judgement,
  type RenewalReading,
} from "../../../src/domain/readiness.js";
import type { ProbeEvidence } from "../../../src/domain/rollback.js";

// ---------------------------------------------------------------------------------------------
// Builders

/** A Front Door custom domain that has deployed `secret`; override what a case needs. */
const aDomain = (over: Partial<FrontDoorDomainReading> = {}): FrontDoorDomainReading => ({
  name: "api-contoso-test",
  secretName: "api-cert-v2",
  provisioningState: "Succeeded",
  deploymentStatus: "Succeeded",
  ...over,
});

const SECRET_V2 = "https://kv.vault.azure.net/secrets/api-cert/v2";
const SERVICE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim";

/** An APIM service provisioned with its gateway host name on the new secret. */
const aService = (over: Partial<ApimServiceReading> = {}): ApimServiceReading => ({
  provisioningState: "Succeeded",
  hostnames: [{ hostName: "api.contoso.test", keyVaultId: SECRET_V2 }],
  ...over,
});

const expectGateway = {
  serviceId: SERVICE,
  hostnames: [{ hostName: "api.contoso.test", keyVaultId: SECRET_V2 }],
};

/** A probe result. */
const aProbe = (over: Partial<ProbeEvidence> = {}): ProbeEvidence => ({
  hostName: "api.contoso.test",
  expect: "serves",
  at: "2030-01-01T00:00:00.000Z",
  ok: true,
  ...over,
});

const verdictOf = <E>(j: Judgement<E>) => j.verdict;
const reasonOf = <E>(j: Judgement<E>) => (j.verdict === "failed" ? j.reason : undefined);

// ---------------------------------------------------------------------------------------------
// Front Door

const frontDoorCases: {
  name: string;
  domains: FrontDoorDomainReading[];
  secret?: string;
  verdict: Judgement<unknown>["verdict"];
  reason?: string;
}[] = [
  {
    name: "every domain provisioned and deployed on the new secret is done",
    domains: [aDomain()],
    secret: "api-cert-v2",
    verdict: "done",
  },
  {
    name: "a domain still deploying is not done yet",
    domains: [aDomain({ deploymentStatus: "InProgress" })],
    secret: "api-cert-v2",
    verdict: "pending",
  },
  {
    name: "a domain still provisioning is not done yet",
    domains: [aDomain({ provisioningState: "Updating" })],
    secret: "api-cert-v2",
    verdict: "pending",
  },
  {
    name: "a domain still on the old secret is not done yet",
    domains: [aDomain({ secretName: "api-cert-v1" })],
    secret: "api-cert-v2",
    verdict: "pending",
  },
  {
    name: "secret names compare case-insensitively",
    domains: [aDomain({ secretName: "API-CERT-V2" })],
    secret: "api-cert-v2",
    verdict: "done",
  },
  {
    name: "without an expected secret (a rollback) any secret will do",
    domains: [aDomain({ secretName: "api-cert-v1" })],
    verdict: "done",
  },
  {
    name: "a domain that names no secret is judged by its states alone",
    domains: [aDomain({ secretName: undefined })],
    secret: "api-cert-v2",
    verdict: "done",
  },
  {
    name: "one domain pending holds back the others",
    domains: [aDomain(), aDomain({ name: "www-contoso-test", deploymentStatus: "InProgress" })],
    secret: "api-cert-v2",
    verdict: "pending",
  },
  {
    name: "a failed provisioning fails the wait for good",
    domains: [aDomain(), aDomain({ name: "www-contoso-test", provisioningState: "Failed" })],
    secret: "api-cert-v2",
    verdict: "failed",
    reason: "DeploymentFailed",
  },
  {
    name: "a failed deployment fails the wait for good, whatever the case of the state",
    domains: [aDomain({ deploymentStatus: "failed" })],
    secret: "api-cert-v2",
    verdict: "failed",
    reason: "DeploymentFailed",
  },
  {
    name: "a profile with no domain to wait for is done",
    domains: [],
    secret: "api-cert-v2",
    verdict: "done",
  },
];

for (const c of frontDoorCases) {
  test(`Front Door: ${c.name}`, () => {
    const j = frontDoorDeployment(c.domains, c.secret);
    assert.equal(verdictOf(j), c.verdict);
    assert.equal(reasonOf(j), c.reason);
  });
}

test("Front Door: the evidence names each domain's states and secret", () => {
  const j = frontDoorDeployment([
    aDomain(),
    aDomain({ name: "www", secretName: undefined, deploymentStatus: "InProgress" }),
  ]);
  assert.equal(
    j.evidence.state,
    "api-contoso-test Succeeded/Succeeded on api-cert-v2, www Succeeded/InProgress",
  );
});

test("Front Door: a failure's message names the domain and both states", () => {
  const j = frontDoorDeployment([aDomain({ provisioningState: "Failed", deploymentStatus: "NotStarted" })]);
  assert.equal(j.verdict, "failed");
  assert.equal(
    j.verdict === "failed" ? j.message : "",
    "Front Door custom domain api-contoso-test ended its update with provisioning Failed, deployment NotStarted.",
  );
});

// ---------------------------------------------------------------------------------------------
// APIM

const apimCases: {
  name: string;
  service: ApimServiceReading;
  verdict: Judgement<unknown>["verdict"];
  reason?: string;
}[] = [
  { name: "provisioned with the host name on its new secret is done", service: aService(), verdict: "done" },
  {
    name: "host names and secret ids compare case-insensitively",
    service: aService({ hostnames: [{ hostName: "API.contoso.test", keyVaultId: SECRET_V2.toUpperCase() }] }),
    verdict: "done",
  },
  {
    name: "still updating is not done yet",
    service: aService({ provisioningState: "Updating" }),
    verdict: "pending",
  },
  {
    name: "provisioned but still on the old secret is not done yet",
    service: aService({ hostnames: [{ hostName: "api.contoso.test", keyVaultId: `${SECRET_V2}-old` }] }),
    verdict: "pending",
  },
  {
    name: "provisioned without the host name is not done yet",
    service: aService({ hostnames: [] }),
    verdict: "pending",
  },
  {
    name: "a host name not from Key Vault is not done yet",
    service: aService({ hostnames: [{ hostName: "api.contoso.test" }] }),
    verdict: "pending",
  },
  {
    name: "an update that ended Failed fails the wait for good",
    service: aService({ provisioningState: "Failed" }),
    verdict: "failed",
    reason: "ProvisioningFailed",
  },
];

for (const c of apimCases) {
  test(`APIM: ${c.name}`, () => {
    const j = apimProvisioning(c.service, expectGateway);
    assert.equal(verdictOf(j), c.verdict);
    assert.equal(reasonOf(j), c.reason);
    assert.deepEqual(j.evidence, { state: c.service.provisioningState });
  });
}

test("APIM: a failure's message names the service", () => {
  const j = apimProvisioning(aService({ provisioningState: "Failed" }), expectGateway);
  assert.equal(
    j.verdict === "failed" ? j.message : "",
    `APIM service ${SERVICE} ended its update in state Failed.`,
  );
});

// ---------------------------------------------------------------------------------------------
// Key Vault renewal

const renewalCases: {
  name: string;
  renewal: RenewalReading;
  verdict: Judgement<unknown>["verdict"];
  reason?: string;
  version?: string;
}[] = [
  {
    name: "a completed operation with a new version is done",
    renewal: { status: "completed", version: "v2" },
    verdict: "done",
    version: "v2",
  },
  {
    name: "an operation gone with a current version other than the old one is done",
    renewal: { status: "none", version: "v2" },
    verdict: "done",
    version: "v2",
  },
  {
    name: "a completed operation naming the old version is the previous renewal's: not yet",
    renewal: { status: "completed", version: "V1" },
    verdict: "pending",
  },
  {
    name: "an operation gone with only the old version is not yet (the new one may still appear)",
    renewal: { status: "none", version: "v1" },
    verdict: "pending",
  },
  { name: "an operation in progress is not done yet", renewal: { status: "inProgress" }, verdict: "pending" },
  {
    name: "an operation gone with no version at all fails the wait",
    renewal: { status: "none" },
    verdict: "failed",
    reason: "RenewalFailed",
  },
  {
    name: "a failed operation fails the wait",
    renewal: { status: "failed", reason: "IssuerError", message: "The issuer refused." },
    verdict: "failed",
    reason: "RenewalFailed",
  },
  {
    name: "a cancelled operation fails the wait",
    renewal: { status: "cancelled", reason: "Cancelled", message: "Someone cancelled it." },
    verdict: "failed",
    reason: "RenewalFailed",
  },
];

for (const c of renewalCases) {
  test(`renewal: ${c.name}`, () => {
    const j = renewalCompletion(c.renewal, "v1");
    assert.equal(verdictOf(j), c.verdict);
    assert.equal(reasonOf(j), c.reason);
    assert.equal(j.evidence.state, c.renewal.status);
    assert.equal(j.evidence.version, c.version);
  });
}

test("renewal: a failure's message carries Key Vault's own reason and sentence", () => {
  const j = renewalCompletion(
    { status: "failed", reason: "IssuerError", message: "The issuer refused." },
    "v1",
  );
  assert.equal(
    j.verdict === "failed" ? j.message : "",
    "The renewal failed: IssuerError: The issuer refused.",
  );
});

// ---------------------------------------------------------------------------------------------
// An external issuer's new version

type Read = CertificateReading & { thumbprint?: string };
const newVersionCases: { name: string; now: Read; verdict: Judgement<unknown>["verdict"]; state?: string }[] =
  [
    {
      name: "another current version is done",
      now: { found: true, version: "v2", thumbprint: "AB" },
      verdict: "done",
    },
    {
      name: "the same version (any case) is not yet",
      now: { found: true, version: "V1" },
      verdict: "pending",
      state: "still V1",
    },
    {
      name: "a certificate that cannot be read is not yet, with the reason in the evidence",
      now: { found: false, message: "Certificate api-cert was not found." },
      verdict: "pending",
      state: "Certificate api-cert was not found.",
    },
  ];

for (const c of newVersionCases) {
  test(`new version: ${c.name}`, () => {
    const j = newVersionAppearance(c.now, "v1");
    assert.equal(verdictOf(j), c.verdict);
    if (c.verdict === "done") assert.deepEqual(j.evidence, { version: "v2", certificate: c.now });
    else assert.deepEqual(j.evidence, { state: c.state });
  });
}

// ---------------------------------------------------------------------------------------------
// Probes

test("probes: every probe passing is done, and the evidence is the probes'", () => {
  const evidence = [aProbe()];
  assert.deepEqual(probeReadiness({ ok: true, evidence }), {
    verdict: "done",
    evidence: { probes: evidence },
  });
});

test("probes: a failing probe is not done yet (the deadline decides)", () => {
  const evidence = [aProbe({ ok: false, servedThumbprint: "OLD" })];
  assert.equal(probeReadiness({ ok: false, evidence }).verdict, "pending");
});

test("probes: a probe call that threw is not yet, each probe failed with the error's first line", () => {
  const j = probesUnreachable(
    [{ hostName: "api.contoso.test", expect: "serves" }],
    "2030-01-01T00:00:00.000Z",
    new Error("connect ECONNREFUSED\n    at stack frame"),
  );
  assert.equal(j.verdict, "pending");
  assert.deepEqual(j.evidence.probes, [
    aProbe({ ok: false, detail: "Probing failed after every retry: connect ECONNREFUSED" }),
  ]);
});

test("judgements survive a JSON round trip (they travel through Durable history)", () => {
  for (const j of [
    frontDoorDeployment([aDomain({ provisioningState: "Failed" })]),
    apimProvisioning(aService(), expectGateway),
    renewalCompletion({ status: "completed", version: "v2" }, "v1"),
  ])
    assert.deepEqual(JSON.parse(JSON.stringify(j)), j);
});
