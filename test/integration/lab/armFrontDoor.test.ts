/**
 * Front Door Standard/Premium through @azure/arm-cdn against the lab ARM: secrets (create or
 * replace by PUT, no PATCH), custom domains (PATCH LRO, merge semantics), the deployment that
 * decides what the edge serves, paging, and injected LRO failures and stuck deployments.
 */
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { startTestLab, type TestLab } from "../../support/lab.js";
import { armApi } from "../../../emulator/lab/arm/api.js";
import { KEYVAULT_API, type KeyVaultApi } from "../../../emulator/lab/keyvault/api.js";
import {
  armFetch,
  cdnClient,
  eventually,
  isRestError,
  newKeyVaultVersion,
  type ArmErrorBody,
} from "./armClients.js";

let lab: TestLab;
const poll = { updateIntervalInMs: 20 };
/** The lab's Front Door deployment time in these tests (frontDoorDeploymentMs). */
const DEPLOYMENT_MS = 400;

before(async () => {
  lab = await startTestLab();
  // New Key Vault versions are made in a few tests only to have one; the lab's default issuance time
  // (1.5 s, Key Vault's pending operation, covered by the Key Vault tests) would only add waiting.
  assert.equal((await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 50 })).status, 200);
});
after(() => lab?.dispose());
beforeEach(async () => {
  await lab.control("DELETE", "/lab/faults?service=arm");
  await lab.control("POST", "/lab/arm/settings", {
    frontDoorOperationMs: 100,
    frontDoorDeploymentMs: DEPLOYMENT_MS,
    pageSize: 50,
  });
});

const ids = () => {
  const s = lab.ctx.seed;
  const rg = s.resourceGroup;
  const profile = s.frontDoor.profile;
  const domain = Object.keys(s.frontDoor.customDomains)[0]!;
  const host = Object.values(s.frontDoor.customDomains)[0]!;
  const vaultSecret = `/subscriptions/${s.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${s.vault.name}/secrets/${s.certificates.edge.name}`;
  return { s, rg, profile, domain, host, vaultSecret };
};
const kv = () => lab.ctx.registry.get(KEYVAULT_API) as KeyVaultApi;
const served = () => armApi(lab.ctx.registry)!.frontDoorDomain(ids().host)!;

test("the seeded secret and domain reference the edge certificate's current Key Vault version", async () => {
  const { s, rg, profile, domain } = ids();
  const cdn = cdnClient(lab);
  const current = kv().currentVersion(s.vault.name, s.certificates.edge.name)!;
  const secret = await cdn.secrets.get(rg, profile, s.frontDoor.secret);
  const params = secret.parameters as unknown as Record<string, unknown>;
  assert.equal(params.type, "CustomerCertificate");
  assert.equal(params.secretVersion, current.version);
  assert.equal(params.thumbprint, current.thumbprint);
  const d = await cdn.afdCustomDomains.get(rg, profile, domain);
  assert.equal(d.tlsSettings?.secret?.id?.toLowerCase(), secret.id?.toLowerCase());
  assert.equal(d.deploymentStatus, "Succeeded");
  assert.equal(served().certificate?.keyVault.version, current.version);
  assert.deepEqual(
    served().origins.map((o) => [o.hostName, o.enforceCertificateNameCheck]),
    [["apim.contoso.test", true]],
  );
});

test("a new secret version PUT and a domain PATCH deploy the new certificate only once the deployment finished", async () => {
  const { s, rg, profile, domain, vaultSecret } = ids();
  const cdn = cdnClient(lab);
  const before = served();
  const version = await newKeyVaultVersion(lab, s.certificates.edge.name);
  const created = await cdn.secrets.beginCreateAndWait(
    rg,
    profile,
    "edge-contoso-next",
    {
      parameters: {
        type: "CustomerCertificate",
        secretSource: { id: vaultSecret },
        secretVersion: version,
        useLatestVersion: false,
      },
    },
    poll,
  );
  const params = created.parameters as unknown as Record<string, unknown>;
  assert.equal(created.provisioningState, "Succeeded");
  assert.equal(params.secretVersion, version);
  assert.equal(params.thumbprint, kv().versions(s.vault.name, s.certificates.edge.name).at(-1)!.thumbprint);

  const changes: string[] = [];
  const off = lab.ctx.bus.on("resource.changed", (e) => e.service === "arm" && changes.push(e.id));
  try {
    const updated = await cdn.afdCustomDomains.beginUpdateAndWait(
      rg,
      profile,
      domain,
      { tlsSettings: { certificateType: "CustomerCertificate", secret: { id: created.id! } } },
      poll,
    );
    assert.equal(updated.provisioningState, "Succeeded");
    assert.equal(updated.deploymentStatus, "InProgress");
    assert.equal(updated.tlsSettings?.minimumTlsVersion, "TLS12", "PATCH merges: untouched fields stay");
    assert.equal(
      served().certificate?.keyVault.version,
      before.certificate?.keyVault.version,
      "old cert until deployed",
    );
    const done = await eventually(async () => {
      const d = await cdn.afdCustomDomains.get(rg, profile, domain);
      return d.deploymentStatus === "Succeeded" && d;
    });
    assert.equal(done.tlsSettings?.secret?.id, created.id);
    assert.equal(served().certificate?.keyVault.version, version);
    assert.equal(served().certificate?.thumbprint, params.thumbprint);
    assert.ok(Date.parse(served().effectiveSince) > Date.parse(before.effectiveSince));
    assert.ok(changes.some((id) => id.toLowerCase().endsWith(`/customdomains/${domain}`)));
  } finally {
    off();
  }
});

test("re-PUTting the secret the domain uses with a new version redeploys the domain", async () => {
  const { s, rg, profile, domain, vaultSecret } = ids();
  const cdn = cdnClient(lab);
  const d = await cdn.afdCustomDomains.get(rg, profile, domain);
  const secretName = d.tlsSettings!.secret!.id!.split("/").pop()!;
  const version = await newKeyVaultVersion(lab, s.certificates.edge.name);
  await cdn.secrets.beginCreateAndWait(
    rg,
    profile,
    secretName,
    {
      parameters: { type: "CustomerCertificate", secretSource: { id: vaultSecret }, secretVersion: version },
    },
    poll,
  );
  await eventually(() => served().certificate?.keyVault.version === version);
  assert.equal((await cdn.afdCustomDomains.get(rg, profile, domain)).deploymentStatus, "Succeeded");
});

test("secrets have no PATCH, list pages with nextLink, and an unknown Key Vault version is refused", async () => {
  const { s, rg, profile, vaultSecret } = ids();
  const patch = await armFetch<ArmErrorBody>(
    lab,
    "PATCH",
    `/subscriptions/${s.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Cdn/profiles/${profile}/secrets/${s.frontDoor.secret}?api-version=2024-02-01`,
    { body: { properties: {} } },
  );
  assert.equal(patch.status, 405);
  assert.equal(patch.body.error.code, "MethodNotAllowed");

  await lab.control("POST", "/lab/arm/settings", { pageSize: 1 });
  const raw = await armFetch<{ value: unknown[]; nextLink: string }>(
    lab,
    "GET",
    `/subscriptions/${s.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Cdn/profiles/${profile}/secrets?api-version=2024-02-01`,
  );
  assert.equal(raw.body.value.length, 1);
  assert.match(raw.body.nextLink, /\$skiptoken=1/);
  const all = [];
  for await (const secret of cdnClient(lab).secrets.listByProfile(rg, profile)) all.push(secret.name);
  assert.ok(all.length >= 2, `all pages followed: ${all.join(",")}`);
  assert.equal(new Set(all).size, all.length);

  await assert.rejects(
    cdnClient(lab).secrets.beginCreateAndWait(
      rg,
      profile,
      "bogus",
      {
        parameters: {
          type: "CustomerCertificate",
          secretSource: { id: vaultSecret },
          secretVersion: "0123456789abcdef0123456789abcdef",
        },
      },
      poll,
    ),
    (e: unknown) => isRestError(e, 400, "BadRequest"),
  );
});

test("an injected LRO failure on a domain PATCH is surfaced by the poller and the edge keeps its certificate", async () => {
  const { rg, profile, domain } = ids();
  const cdn = cdnClient(lab);
  const before = served();
  await lab.control("POST", "/lab/faults", {
    service: "arm",
    kind: "lroFailed",
    match: "^PATCH .*/customDomains/",
    count: 1,
    code: "DeploymentFailed",
    message: "The edge rejected the configuration.",
  });
  await assert.rejects(
    cdn.afdCustomDomains.beginUpdateAndWait(
      rg,
      profile,
      domain,
      {
        tlsSettings: {
          certificateType: "CustomerCertificate",
          minimumTlsVersion: "TLS12",
          secret: before.certificate ? { id: before.certificate.secretId } : undefined,
        },
      },
      poll,
    ),
    /long-running operation has failed.*DeploymentFailed.*rejected/,
  );
  const d = await cdn.afdCustomDomains.get(rg, profile, domain);
  assert.equal(d.provisioningState, "Failed");
  assert.equal(served().certificate?.keyVault.version, before.certificate?.keyVault.version);
  assert.equal(served().effectiveSince, before.effectiveSince);
  // The next write succeeds again.
  const ok = await cdn.afdCustomDomains.beginUpdateAndWait(
    rg,
    profile,
    domain,
    {
      tlsSettings: {
        minimumTlsVersion: "TLS12",
        certificateType: "CustomerCertificate",
        secret: { id: before.certificate!.secretId },
      },
    },
    poll,
  );
  assert.equal(ok.provisioningState, "Succeeded");
});

test("a stuck deployment stays InProgress until the fault is removed", async () => {
  const { rg, profile, domain } = ids();
  const cdn = cdnClient(lab);
  const rule = await lab.control<{ id: string }>("POST", "/lab/faults", {
    service: "arm",
    kind: "afdDeploymentStuck",
  });
  const secretId = served().certificate!.secretId;
  await cdn.afdCustomDomains.beginUpdateAndWait(
    rg,
    profile,
    domain,
    {
      tlsSettings: {
        certificateType: "CustomerCertificate",
        minimumTlsVersion: "TLS12",
        secret: { id: secretId },
      },
    },
    poll,
  );
  // A bounded wait to show something does NOT happen: twice the deployment time. The lab completes due
  // deployments before it answers any request, so without the fault this read would say Succeeded.
  await new Promise((r) => setTimeout(r, 2 * DEPLOYMENT_MS));
  assert.equal((await cdn.afdCustomDomains.get(rg, profile, domain)).deploymentStatus, "InProgress");
  await lab.control("DELETE", `/lab/faults/${rule.body.id}`);
  await eventually(
    async () => (await cdn.afdCustomDomains.get(rg, profile, domain)).deploymentStatus === "Succeeded",
  );
});
