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
import { CoreV1Api, KubeConfig, NetworkingV1Api } from "@kubernetes/client-node";
import forge from "node-forge";
import type { RolloutReport } from "../../src/domain/report.js";
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

interface LabWrite {
  server: "arm" | "kubernetes";
  method: string;
  path: string;
}

describe("a probe failure at each stage", () => {
  let world: World;
  let core: CoreV1Api;
  let apim: ApiManagementClient;
  let cdn: CdnManagementClient;
  let rg: string;
  let apimService: string;
  let profile: string;
  const writes: LabWrite[] = [];

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
    const ok = (what: string, a: { status: number; body: unknown }) =>
      assert.ok(a.status < 300, `${what}: HTTP ${a.status} ${JSON.stringify(a.body)}`);
    ok(
      "ARM settings",
      await lab.control("POST", "/lab/arm/settings", {
        frontDoorOperationMs: 100,
        frontDoorDeploymentMs: 200,
        apimUpdateMs: 300,
        lroRetryAfterSeconds: 0,
      }),
    );
    ok("Key Vault settings", await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 100 }));
    for (const server of ["arm", "kubernetes"] as const) {
      lab.ctx.servers[server].router.use(async (req, next) => {
        const out = await next();
        if (req.method !== "GET" && req.method !== "HEAD")
          writes.push({ server, method: req.method, path: req.path });
        return out;
      });
    }

    const credential = new DefaultAzureCredential();
    const seed = lab.ctx.seed;
    rg = seed.resourceGroup;
    apimService = seed.apim.service;
    profile = seed.frontDoor.profile;
    const arm = lab.ctx.servers.arm.url;
    const armOptions = {
      $host: arm,
      endpoint: arm,
      credentialScopes: ["https://management.azure.com/.default"],
    };
    apim = new ApiManagementClient(credential, seed.subscriptionId, armOptions);
    cdn = new CdnManagementClient(credential, seed.subscriptionId, armOptions);
    const kc = new KubeConfig();
    kc.loadFromFile(lab.endpoints.kubeconfig as string);
    core = kc.makeApiClient(CoreV1Api);
    const networking = kc.makeApiClient(NetworkingV1Api);

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
    const pair = pemPair(secret.value ?? "");
    await core.createNamespacedSecret({
      namespace: NAMESPACE,
      body: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: SECRET,
          annotations: { "cert-rotation.e2e/certificate": `${VAULT}/${CERTIFICATE}` },
        },
        type: "kubernetes.io/tls",
        data: {
          "tls.crt": Buffer.from(pair.cert).toString("base64"),
          "tls.key": Buffer.from(pair.key).toString("base64"),
        },
      },
    });
    await networking.createNamespacedIngress({
      namespace: NAMESPACE,
      body: {
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        metadata: { name: "stage-faults" },
        spec: {
          ingressClassName: "nginx",
          tls: [{ hosts: [HOSTS.kubernetes], secretName: SECRET }],
          rules: [
            {
              host: HOSTS.kubernetes,
              http: {
                paths: [
                  {
                    path: "/",
                    pathType: "Prefix",
                    backend: { service: { name: "backend", port: { number: 80 } } },
                  },
                ],
              },
            },
          ],
        },
      },
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
    const vaultResourceId = (
      lab.endpoints as unknown as { keyVault: { vaults: Record<string, { resourceId: string }> } }
    ).keyVault.vaults[VAULT]?.resourceId;
    assert.ok(vaultResourceId, "the lab publishes the vault's ARM id");
    const fdSecret = await cdn.secrets.beginCreateAndWait(
      rg,
      profile,
      `${CERTIFICATE}-${version.slice(0, 8)}`,
      {
        parameters: {
          type: "CustomerCertificate",
          secretSource: { id: `${vaultResourceId}/secrets/${CERTIFICATE}` },
          secretVersion: version,
          useLatestVersion: false,
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

    // Every hop serves the first version before any test starts.
    const first = thumb(created.properties.x509Thumbprint);
    let seen = "";
    await world
      .waitFor(
        "every hop to serve the first version",
        async () => {
          const now = await Promise.all(
            STAGES.map(async (s) => [HOSTS[s], await world.served(HOSTS[s]).catch((e: Error) => e.message)]),
          );
          seen = JSON.stringify(now);
          return now.every(
            ([, list]) => Array.isArray(list) && list.length > 0 && list.every((t) => t === first),
          )
            ? true
            : undefined;
        },
        30_000,
      )
      .catch((e: Error) => {
        throw new Error(`${e.message}; served ${seen} (expected ${first})`);
      });
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

  const newVersion = async () => {
    const policy = await world.certificates.getCertificatePolicy(CERTIFICATE);
    const done = await (
      await world.certificates.beginCreateCertificate(CERTIFICATE, policy, { intervalInMs: 50 })
    ).pollUntilDone();
    return { version: done.properties.version as string, thumbprint: thumb(done.properties.x509Thumbprint) };
  };
  const rollOut = async (version: string) => {
    const answer = await world.api("POST", "/api/rollouts", {
      vault: VAULT,
      certificate: CERTIFICATE,
      version,
    });
    assert.equal(answer.status, 202, answer.text);
    return world.waitForRollout((answer.body as { id: string }).id, 90_000);
  };
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
    const v = await newVersion();
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

      const fault = await world.lab.control("POST", "/lab/faults", {
        service: "edge",
        kind: "neverPropagate",
        match: FAULT_MATCH[stage],
      });
      assert.ok(fault.status < 300, JSON.stringify(fault.body));
      const faultId = (fault.body as { id: string }).id;
      let lifted = false;
      try {
        await world.lab.control("POST", "/lab/edge/refresh");
        const v = await newVersion();
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
        await world.lab.control("DELETE", `/lab/faults/${faultId}`);
        lifted = true;
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
        if (!lifted) await world.lab.control("DELETE", `/lab/faults/${faultId}`);
      }
    });
  }
});

/** The PEM private key and certificate chain of a PFX secret value (no password, as Key Vault stores it). */
function pemPair(value: string): { key: string; cert: string } {
  const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.decode64(value)), "");
  const shrouded = forge.pki.oids.pkcs8ShroudedKeyBag as string;
  const plain = forge.pki.oids.keyBag as string;
  const certBag = forge.pki.oids.certBag as string;
  const keyBag =
    p12.getBags({ bagType: shrouded })[shrouded]?.[0] ?? p12.getBags({ bagType: plain })[plain]?.[0];
  const certs = p12.getBags({ bagType: certBag })[certBag] ?? [];
  assert.ok(keyBag?.key && certs.length > 0, "the vault secret holds a key and a chain");
  // tls.crt is the leaf first, then its chain (a PFX keeps no order).
  // forge parses RSA certificates only; any other (an EC CA) keeps its ASN.1.
  const pems = certs.map((b) => {
    const asn1 = b.cert ? forge.pki.certificateToAsn1(b.cert) : (b as { asn1?: forge.asn1.Asn1 }).asn1;
    assert.ok(asn1, "a certificate bag holds a certificate");
    return new X509Certificate(Buffer.from(forge.asn1.toDer(asn1).getBytes(), "binary")).toString();
  });
  const isLeaf = (pem: string) => !new X509Certificate(pem).ca;
  return {
    key: forge.pki.privateKeyToPem(keyBag.key),
    cert: [...pems.filter(isLeaf), ...pems.filter((p) => !isLeaf(p))].join(""),
  };
}

function thumb(bytes: Uint8Array | undefined): string {
  return Buffer.from(bytes ?? [])
    .toString("hex")
    .toUpperCase();
}

function explain(report: RolloutReport): string {
  return `${report.outcome?.state} ${report.outcome?.reason}: ${report.outcome?.message}\n${JSON.stringify(report.stages, null, 1).slice(0, 4000)}`;
}
