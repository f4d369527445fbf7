/**
 * End to end, one certificate bound at all three hops — a Kubernetes TLS Secret used by an Ingress
 * host, an APIM proxy hostname and a Front Door custom domain, all created here through the real
 * management APIs (@kubernetes/client-node, @azure/arm-apimanagement, @azure/arm-cdn) — rolled out
 * successfully (stages in order kubernetes → apim → frontDoor), and then, for each stage, a hop
 * that never serves the new certificate (lab edge fault `neverPropagate`): the rollout ends
 * RolledBack, the stages before and at the failing one were written and rolled back (verified),
 * the stages after it were never written, and every hop serves its previous certificate again in
 * real handshakes — also after the fault is lifted, which proves the resources were put back and
 * not merely hidden by the fault.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { ApiManagementClient, type HostnameConfiguration } from "@azure/arm-apimanagement";
import { CdnManagementClient } from "@azure/arm-cdn";
import { DefaultAzureCredential } from "@azure/identity";
import type { CertificatePolicy } from "@azure/keyvault-certificates";
import { SecretClient } from "@azure/keyvault-secrets";
import type { CoreV1Api } from "@kubernetes/client-node";
import type { RolloutReport } from "../../src/domain/report.js";
import {
  configureLab,
  explain as explainStages,
  holdFault,
  newVersion,
  recordLabWrites,
  startRollout,
  thumb,
  waitUntilServed,
  type LabWrite,
} from "../support/e2e.js";
import {
  createFrontDoorDomain,
  createTlsIngress,
  createTlsSecret,
  labArmOptions,
  labKubernetes,
  labVaultResourceId,
  tlsPair,
} from "../support/labBindings.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";
const CERTIFICATE = "stage-faults";
const NAMESPACE = "api";
const SECRET = "stage-faults-tls";
const DOMAIN = "fd-stage-faults";
const HOSTS = {
  kubernetes: "be.stage-faults.contoso.test",
  apim: "gw.stage-faults.contoso.test",
  frontDoor: "fd.stage-faults.contoso.test",
} as const;
type StageName = keyof typeof HOSTS;
const STAGES: StageName[] = ["kubernetes", "apim", "frontDoor"];
/** The `neverPropagate` fault operation of each stage's hop (one Front Door edge location is enough). */
const FAULT_MATCH: Record<StageName, string> = {
  kubernetes: `^ingress ${HOSTS.kubernetes.replace(/\./g, "\\.")}$`,
  apim: `^apim ${HOSTS.apim.replace(/\./g, "\\.")}$`,
  frontDoor: `^frontDoor/westeurope ${HOSTS.frontDoor.replace(/\./g, "\\.")}$`,
};
/** Resource paths each stage writes, as the lab's servers see them. */
const WRITES_OF: Record<StageName, { server: "arm" | "kubernetes"; path: RegExp }> = {
  kubernetes: { server: "kubernetes", path: new RegExp(`/namespaces/${NAMESPACE}/secrets`, "i") },
  apim: { server: "arm", path: /\/providers\/Microsoft\.ApiManagement\/service\//i },
  frontDoor: { server: "arm", path: /\/providers\/Microsoft\.Cdn\/profiles\//i },
};
/** A report for an assertion message (4000 characters of its stages). */
const explain = (report: RolloutReport) => explainStages(report, 4000);

describe("a probe failure at each stage", () => {
  let world: World;
  let core: CoreV1Api;
  let apim: ApiManagementClient;
  let cdn: CdnManagementClient;
  let rg: string;
  let apimService: string;
  let profile: string;
  let writes: LabWrite[] = [];

  before(async () => {
    world = await startWorld({
      subscribeEvents: false,
      frontDoorDelayMs: 200,
      probeHosts: { [HOSTS.kubernetes]: "ingress", [HOSTS.apim]: "apim", [HOSTS.frontDoor]: "frontDoor" },
      // Orchestration seconds; the host runs 20× faster, so a failing stage gives up after 5–8 s.
      settings: {
        PROBE_DEADLINE_KUBERNETES_SECONDS: "100",
        PROBE_DEADLINE_APIM_SECONDS: "160",
        PROBE_DEADLINE_FRONT_DOOR_SECONDS: "160",
      },
    });
    const lab = world.lab;
    await configureLab(lab, "/lab/arm/settings", {
      frontDoorOperationMs: 100,
      frontDoorDeploymentMs: 200,
      apimUpdateMs: 300,
      lroRetryAfterSeconds: 0,
    });
    await configureLab(lab, "/lab/keyvault/settings", { createDelayMs: 100 });
    writes = recordLabWrites(lab);

    const credential = new DefaultAzureCredential();
    const seed = lab.ctx.seed;
    rg = seed.resourceGroup;
    apimService = seed.apim.service;
    profile = seed.frontDoor.profile;
    apim = new ApiManagementClient(credential, seed.subscriptionId, labArmOptions(lab));
    cdn = new CdnManagementClient(credential, seed.subscriptionId, labArmOptions(lab));
    const kubernetes = labKubernetes(lab);
    core = kubernetes.core;

    // 1. One certificate from the vault's integrated CA, naming every host it is bound to.
    const policy: CertificatePolicy = {
      issuerName: "LabCA",
      subject: `CN=${HOSTS.frontDoor}`,
      subjectAlternativeNames: { dnsNames: [HOSTS.frontDoor, HOSTS.apim, HOSTS.kubernetes] },
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
    const version = created.properties.version as string;
    const secretId = created.secretId as string;

    // 2. Kubernetes: a TLS Secret annotated with its vault certificate, and an Ingress host using it.
    const secret = await new SecretClient(world.vaultUrl, credential).getSecret(CERTIFICATE, { version });
    await createTlsSecret(core, {
      namespace: NAMESPACE,
      name: SECRET,
      annotations: { "cert-rotation.e2e/certificate": `${VAULT}/${CERTIFICATE}` },
      pair: tlsPair(secret.value ?? ""),
    });
    await createTlsIngress(kubernetes.networking, {
      namespace: NAMESPACE,
      name: "stage-faults",
      hosts: [{ host: HOSTS.kubernetes, secretName: SECRET }],
    });

    // 3. APIM: a proxy hostname on the seeded service (the whole array goes back in one update).
    const service = await apim.apiManagementService.get(rg, apimService);
    const hostname: HostnameConfiguration = {
      type: "Proxy",
      hostName: HOSTS.apim,
      keyVaultId: secretId,
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

    // 4. Front Door: a customer-certificate secret for this version and a custom domain using it.
    await createFrontDoorDomain(cdn, {
      resourceGroup: rg,
      profile,
      vaultResourceId: labVaultResourceId(lab, VAULT),
      certificate: CERTIFICATE,
      version,
      name: DOMAIN,
      hostName: HOSTS.frontDoor,
    });

    // Every hop serves the first version before any test starts.
    await waitUntilServed(
      world,
      STAGES.map((s) => HOSTS[s]),
      thumb(created.properties.x509Thumbprint),
      "every hop to serve the first version",
    );
  });

  after(async () => {
    await world?.stop();
  });

  /** Thumbprints every address of every bound host presents, by stage. */
  const servedNow = async (): Promise<Record<StageName, string[]>> => {
    const out = {} as Record<StageName, string[]>;
    for (const stage of STAGES) out[stage] = await world.served(HOSTS[stage]);
    return out;
  };
  const servesEverywhere = async (thumbprint: string) =>
    Object.values(await servedNow()).every((list) => list.length > 0 && list.every((t) => t === thumbprint));

  /** What each resource is configured with now, read through the management APIs. */
  const configured = async (): Promise<Record<StageName, string>> => {
    const s = await core.readNamespacedSecret({ name: SECRET, namespace: NAMESPACE });
    const crt = Buffer.from(s.data?.["tls.crt"] ?? "", "base64").toString();
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(crt)?.[0] ?? "";
    const service = await apim.apiManagementService.get(rg, apimService);
    const keyVaultId = service.hostnameConfigurations?.find((h) => h.hostName === HOSTS.apim)?.keyVaultId;
    const domain = await cdn.afdCustomDomains.get(rg, profile, DOMAIN);
    const fdSecret = await cdn.secrets.get(
      rg,
      profile,
      domain.tlsSettings?.secret?.id?.split("/").pop() ?? "",
    );
    const params = fdSecret.parameters as { secretVersion?: string } | undefined;
    return {
      // A Secret holds a leaf, not a version: compared by the leaf's thumbprint.
      kubernetes: leaf ? new X509Certificate(leaf).fingerprint.replace(/:/g, "").toUpperCase() : "none",
      apim: /\/secrets\/[^/]+\/([^/?]+)/.exec(keyVaultId ?? "")?.[1] ?? `unversioned ${keyVaultId}`,
      frontDoor: params?.secretVersion ?? "none",
    };
  };

  const nextVersion = () => newVersion(world, CERTIFICATE, { intervalInMs: 50 });
  const rollOut = async (version: string) =>
    world.waitForRollout(
      await startRollout(world, { vault: VAULT, certificate: CERTIFICATE, version }),
      90_000,
    );
  const writesSince = (mark: number): Record<StageName, string[]> => {
    const out = {} as Record<StageName, string[]>;
    for (const stage of STAGES) {
      const w = WRITES_OF[stage];
      out[stage] = writes
        .slice(mark)
        .filter((c) => c.server === w.server && w.path.test(c.path))
        .map((c) => `${c.method} ${c.path}`);
    }
    return out;
  };

  it("rolls out to all three hops in order kubernetes → apim → frontDoor", async () => {
    const started = Date.now();
    const v = await nextVersion();
    const report = await rollOut(v.version);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    assert.deepEqual(
      report.stages.map((s) => s.stage),
      STAGES,
      "one stage per hop, inner to outer",
    );
    for (const s of report.stages) {
      assert.equal(s.status, "succeeded", `stage ${s.stage}: ${explain(report)}`);
      assert.ok(s.targets.length === 1 && s.targets[0]?.status === "verified", `stage ${s.stage} verified`);
      assert.equal(s.targets[0]?.next.thumbprint, v.thumbprint);
    }
    // Each stage starts only after the one before it finished.
    for (let i = 1; i < report.stages.length; i++) {
      const before = report.stages[i - 1]!;
      const next = report.stages[i]!;
      assert.ok(
        before.startedAt && before.finishedAt && next.startedAt,
        `timestamps of ${JSON.stringify(report.stages)}`,
      );
      assert.ok(
        Date.parse(before.startedAt) <= Date.parse(before.finishedAt) &&
          Date.parse(before.finishedAt) <= Date.parse(next.startedAt),
        `${before.stage} ${before.startedAt}→${before.finishedAt} before ${next.stage} ${next.startedAt}`,
      );
    }
    // Every address of every hop presents the new leaf in a real handshake.
    const served = await servedNow();
    for (const stage of STAGES)
      assert.ok(
        served[stage].length > 0 && served[stage].every((t) => t === v.thumbprint),
        `${stage} (${HOSTS[stage]}) serves ${served[stage].join(", ")}, expected ${v.thumbprint}`,
      );
    assert.deepEqual(await configured(), {
      kubernetes: v.thumbprint,
      apim: v.version,
      frontDoor: v.version,
    });
    console.log(`# happy path: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  for (const [failing, stage] of STAGES.entries()) {
    it(`a hop that never serves the new certificate at stage ${stage} → RolledBack, every hop back`, async () => {
      const started = Date.now();
      const servedBefore = await servedNow();
      const configuredBefore = await configured();
      const previous = servedBefore.kubernetes[0];
      assert.ok(
        previous && (await servesEverywhere(previous)),
        `one leaf everywhere: ${JSON.stringify(servedBefore)}`,
      );

      const lift = await holdFault(world.lab, {
        service: "edge",
        kind: "neverPropagate",
        match: FAULT_MATCH[stage],
      });
      try {
        await world.lab.control("POST", "/lab/edge/refresh");
        const v = await nextVersion();
        const mark = writes.length;
        const report = await rollOut(v.version);
        const written = writesSince(mark);

        assert.equal(report.outcome?.state, "RolledBack", explain(report));
        assert.deepEqual(
          report.stages.map((s) => s.stage),
          STAGES,
        );
        const appliedSteps = new Set<string>();
        for (const [i, s] of report.stages.entries()) {
          if (i < failing) {
            assert.equal(
              s.status,
              "succeeded",
              `stage ${s.stage} ran before the failure: ${explain(report)}`,
            );
          } else if (i === failing) {
            assert.equal(s.status, "failed", `stage ${s.stage} is the one that failed: ${explain(report)}`);
            assert.ok(s.failure?.reason, `the failed stage says why: ${JSON.stringify(s)}`);
            const evidence = s.targets.flatMap((t) => t.probes);
            assert.ok(
              evidence.some((p) => !p.ok && p.hostName === HOSTS[stage]),
              `a failing probe of ${HOSTS[stage]} is the evidence: ${JSON.stringify(evidence)}`,
            );
          }
          if (i <= failing) {
            // Applied, then rolled back (verified by a handshake), to the version it had before.
            assert.ok(written[s.stage].length > 0, `stage ${s.stage} was written`);
            for (const t of s.targets) {
              assert.equal(t.status, "rolledBack", `${t.description}: ${explain(report)}`);
              assert.equal(t.previous.thumbprint, previous, `${t.description} recorded its previous leaf`);
              appliedSteps.add(t.stepId);
            }
          } else {
            assert.equal(s.status, "pending", `stage ${s.stage} after the failure never ran`);
            assert.equal(s.startedAt, undefined, `stage ${s.stage} never started`);
            assert.ok(s.targets.every((t) => t.status === "pending" || t.status === "notApplied"));
            assert.deepEqual(written[s.stage], [], `nothing was written for stage ${s.stage}`);
          }
        }
        const actions = report.rollback?.actions ?? [];
        assert.deepEqual(
          new Set(actions.map((a) => a.stepId)),
          appliedSteps,
          "one rollback action per applied target",
        );
        assert.ok(
          actions.every((a) => a.verified),
          `every rollback verified: ${JSON.stringify(actions)}`,
        );
        assert.deepEqual(report.rollback?.unrestorable ?? [], []);
        // Rolled back in reverse order of application (outer stages first).
        const stageOf = (stepId: string) =>
          report.stages.findIndex((s) => s.targets.some((t) => t.stepId === stepId));
        const order = actions.map((a) => stageOf(a.stepId));
        assert.deepEqual(
          order,
          [...order].sort((a, b) => b - a),
          "rollback runs outer to inner",
        );

        // Every hop serves its previous certificate, and every resource names it again.
        assert.deepEqual(await servedNow(), servedBefore, "every hop serves its previous certificate");
        assert.deepEqual(
          await configured(),
          configuredBefore,
          "every resource is back on its previous version",
        );

        // With the fault lifted, the hop shows what its resource holds: the previous leaf, not the new one.
        await lift();
        await world.lab.control("POST", "/lab/edge/refresh");
        // The fault is consulted at each handshake, and the rollback's write reached the edge long
        // ago (it was verified at the other hops), so what is served now is what the resources hold.
        assert.deepEqual(
          await servedNow(),
          servedBefore,
          "no hop picks up the new leaf with the fault lifted",
        );
        console.log(
          `# failure at ${stage}: ${((Date.now() - started) / 1000).toFixed(1)} s, ${report.outcome?.reason}: ${report.outcome?.message}`,
        );
      } finally {
        await lift();
      }
    });
  }
});
