/**
 * End to end, rollbacks of references that follow the vault's latest version: an APIM proxy hostname
 * bound with a versionless `keyVaultId` and a Front Door custom domain on a `useLatestVersion`
 * secret. Such a reference resolves to the vault's current version — the one being rolled back — so
 * putting it back as it was would serve the rejected leaf. A rollback pins the version that was
 * served (the report says so and how to unpin), and the hops serve the previous leaf in real
 * handshakes, also once the fault that failed the rollout is lifted. A Front Door rollback that is
 * not verified keeps the secret made for the new version (an operator may need it).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ApiManagementClient, type HostnameConfiguration } from "@azure/arm-apimanagement";
import { CdnManagementClient } from "@azure/arm-cdn";
import { DefaultAzureCredential } from "@azure/identity";
import type { CertificatePolicy } from "@azure/keyvault-certificates";
import type { RolloutReport } from "../../src/domain/report.js";
import {
  configureLab,
  explain as explainStages,
  holdFault,
  newVersion,
  startRollout,
  thumb,
  waitUntilServed,
} from "../support/e2e.js";
import { labArmOptions, labVaultResourceId } from "../support/labBindings.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";
const CERTIFICATE = "follows-latest";
const DOMAIN = "fd-follows-latest";
const LATEST_SECRET = "follows-latest-latest";
const HOSTS = { apim: "gw.follows-latest.contoso.test", frontDoor: "fd.follows-latest.contoso.test" };
const explain = (report: RolloutReport) => explainStages(report, 5000);

describe("rollback of references that follow the latest version", () => {
  let world: World;
  let apim: ApiManagementClient;
  let cdn: CdnManagementClient;
  let rg: string;
  let apimService: string;
  let profile: string;
  let versionless: string;

  before(async () => {
    world = await startWorld({
      subscribeEvents: false,
      frontDoorDelayMs: 200,
      probeHosts: { [HOSTS.apim]: "apim", [HOSTS.frontDoor]: "frontDoor" },
      settings: { PROBE_DEADLINE_APIM_SECONDS: "160", PROBE_DEADLINE_FRONT_DOOR_SECONDS: "160" },
    });
    const lab = world.lab;
    await configureLab(lab, "/lab/arm/settings", {
      frontDoorOperationMs: 100,
      frontDoorDeploymentMs: 200,
      apimUpdateMs: 300,
      lroRetryAfterSeconds: 0,
    });
    await configureLab(lab, "/lab/keyvault/settings", { createDelayMs: 100 });
    const credential = new DefaultAzureCredential();
    const seed = lab.ctx.seed;
    rg = seed.resourceGroup;
    apimService = seed.apim.service;
    profile = seed.frontDoor.profile;
    apim = new ApiManagementClient(credential, seed.subscriptionId, labArmOptions(lab));
    cdn = new CdnManagementClient(credential, seed.subscriptionId, labArmOptions(lab));

    const policy: CertificatePolicy = {
      issuerName: "LabCA",
      subject: `CN=${HOSTS.frontDoor}`,
      subjectAlternativeNames: { dnsNames: [HOSTS.frontDoor, HOSTS.apim] },
      keyType: "RSA",
      keySize: 2048,
      exportable: true,
      reuseKey: false,
      contentType: "application/x-pkcs12",
      validityInMonths: 12,
    };
    const created = await (
      await world.certificates.beginCreateCertificate(CERTIFICATE, policy, { intervalInMs: 50 })
    ).pollUntilDone();
    versionless = (created.secretId as string).replace(/\/[^/]+$/, "");

    // APIM: a proxy hostname whose keyVaultId names no version (APIM's auto-refresh form).
    const service = await apim.apiManagementService.get(rg, apimService);
    const hostname: HostnameConfiguration = {
      type: "Proxy",
      hostName: HOSTS.apim,
      keyVaultId: versionless,
      certificateSource: "KeyVault",
      negotiateClientCertificate: false,
      defaultSslBinding: false,
    };
    await apim.apiManagementService.beginUpdateAndWait(
      rg,
      apimService,
      { hostnameConfigurations: [...(service.hostnameConfigurations ?? []), hostname] },
      { updateIntervalInMs: 50 },
    );

    // Front Door: a secret set to 'Latest' and a custom domain using it.
    const fdSecret = await cdn.secrets.beginCreateAndWait(
      rg,
      profile,
      LATEST_SECRET,
      {
        parameters: {
          type: "CustomerCertificate",
          secretSource: { id: `${labVaultResourceId(lab, VAULT)}/secrets/${CERTIFICATE}` },
          useLatestVersion: true,
        },
      },
      { updateIntervalInMs: 50 },
    );
    await cdn.afdCustomDomains.beginCreateAndWait(
      rg,
      profile,
      DOMAIN,
      {
        hostName: HOSTS.frontDoor,
        tlsSettings: {
          certificateType: "CustomerCertificate",
          minimumTlsVersion: "TLS12",
          secret: { id: fdSecret.id as string },
        },
      },
      { updateIntervalInMs: 50 },
    );
    await waitUntilServed(
      world,
      [HOSTS.apim, HOSTS.frontDoor],
      thumb(created.properties.x509Thumbprint),
      "both hops to serve the first version",
    );
  });

  after(async () => {
    await world?.stop();
  });

  const served = async () => ({
    apim: await world.served(HOSTS.apim),
    frontDoor: await world.served(HOSTS.frontDoor),
  });
  const rollOut = async (version: string) =>
    world.waitForRollout(
      await startRollout(world, { vault: VAULT, certificate: CERTIFICATE, version }),
      90_000,
    );
  const fdSecretNames = async () => {
    const names: string[] = [];
    for await (const s of cdn.secrets.listByProfile(rg, profile)) if (s.name) names.push(s.name);
    return names;
  };

  it("a failed rollout pins the previous version on a versionless APIM id and a 'Latest' Front Door secret; both serve the previous leaf", async () => {
    const before = await served();
    const previous = before.apim[0] as string;
    assert.ok(previous, JSON.stringify(before));
    // Front Door's edge in westeurope never takes the new leaf: its stage fails after APIM succeeded.
    const lift = await holdFault(world.lab, {
      service: "edge",
      kind: "neverPropagate",
      match: `^frontDoor/westeurope ${HOSTS.frontDoor.replace(/\./g, "\\.")}$`,
    });
    try {
      await world.lab.control("POST", "/lab/edge/refresh");
      const v = await newVersion(world, CERTIFICATE, { intervalInMs: 50 });
      const report = await rollOut(v.version);
      assert.equal(report.outcome?.state, "RolledBack", explain(report));
      assert.equal(report.stages.find((s) => s.stage === "apim")?.status, "succeeded", explain(report));

      // The references name the previous version explicitly now.
      const service = await apim.apiManagementService.get(rg, apimService);
      const keyVaultId = service.hostnameConfigurations?.find((h) => h.hostName === HOSTS.apim)?.keyVaultId;
      assert.match(keyVaultId ?? "", new RegExp(`^${versionless}/[0-9a-f]+$`), `APIM pinned: ${keyVaultId}`);
      assert.notEqual(keyVaultId, `${versionless}/${v.version}`, "not the rejected version");
      const domain = await cdn.afdCustomDomains.get(rg, profile, DOMAIN);
      const secretName = domain.tlsSettings?.secret?.id?.split("/").pop() ?? "";
      const fdSecret = await cdn.secrets.get(rg, profile, secretName);
      const params = fdSecret.parameters as { useLatestVersion?: boolean; secretVersion?: string };
      assert.equal(params.useLatestVersion, false, `Front Door secret ${secretName} pinned`);
      assert.notEqual(params.secretVersion, v.version, "not the rejected version");

      // The report says what was pinned and how to unpin.
      const notices = (report.rollback?.actions ?? []).flatMap((a) => a.notices ?? []).join("\n");
      assert.match(notices, new RegExp(`${HOSTS.apim.replace(/\./g, "\\.")} was pinned`), notices);
      assert.match(notices, /unpin/i, notices);
      assert.match(notices, new RegExp(`${DOMAIN}`), notices);

      // With the fault lifted, every address serves the previous leaf (the resources hold it).
      await lift();
      await world.lab.control("POST", "/lab/edge/refresh");
      const now = await served();
      assert.ok(
        [...now.apim, ...now.frontDoor].every((t) => t === previous),
        `previous leaf ${previous} everywhere, new is ${v.thumbprint}: ${JSON.stringify(now)}`,
      );
    } finally {
      await lift();
    }
  });

  it("a Front Door rollback that is not verified keeps the secret made for the new version", async () => {
    // Deployments never finish: the Front Door stage fails, and so does the wait for its rollback.
    const lift = await holdFault(world.lab, { service: "arm", kind: "afdDeploymentStuck" });
    try {
      const v = await newVersion(world, CERTIFICATE, { intervalInMs: 50 });
      const report = await rollOut(v.version);
      assert.equal(report.outcome?.state, "NeedsAttention", explain(report));
      const fdStep = report.stages.find((s) => s.stage === "frontDoor")?.targets[0]?.stepId;
      const action = report.rollback?.actions.find((a) => a.stepId === fdStep);
      assert.equal(action?.verified, false, explain(report));
      const names = await fdSecretNames();
      assert.ok(
        names.some((n) => n.toLowerCase().includes(v.version.slice(0, 8).toLowerCase())),
        `the new version's secret is kept while the rollback is unverified: ${names.join(", ")}`,
      );
    } finally {
      await lift();
    }
  });
});
