/**
 * End to end, the report of a running rollout with more targets than its custom status shows.
 * One certificate is bound to {@link SECRETS} Kubernetes TLS Secrets (each used by an Ingress host)
 * and to a Front Door custom domain, all created here through the real management APIs
 * (@kubernetes/client-node, @azure/arm-cdn): more targets than `MAX_SHOWN_TARGETS`, so the
 * rotation's custom status counts them but shows only a few. While the Front Door stage is held (lab
 * edge fault `neverPropagate` at one location, lifted later), `GET /api/rollouts/{id}` must still
 * show every target — joined from the audit row of the last finished stage, the running stage laid
 * over it from its live view — each with the version and thumbprint it had and the one it gets.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CdnManagementClient } from "@azure/arm-cdn";
import { DefaultAzureCredential } from "@azure/identity";
import type { CertificatePolicy } from "@azure/keyvault-certificates";
import { SecretClient } from "@azure/keyvault-secrets";
import { stageInstanceId } from "../../src/domain/instanceIds.js";
import type { RolloutReport } from "../../src/domain/report.js";
import { MAX_SHOWN_TARGETS } from "../../src/orchestrations/status.js";
import {
  configureLab,
  explain as explainStages,
  holdFault,
  newVersion,
  plannedStages,
  thumb,
  waitForStageProbing,
  waitUntilServed,
  type Version,
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
const CERTIFICATE = "report-many";
const NAMESPACE = "api";
/** Kubernetes Secrets bound to the certificate: alone more than the custom status shows. */
const SECRETS = MAX_SHOWN_TARGETS + 1;
const secretName = (i: number) => `report-many-${i}`;
const ingressHost = (i: number) => `be${i}.report-many.contoso.test`;
const FRONT_DOOR_HOST = "fd.report-many.contoso.test";
const DOMAIN = "fd-report-many";
const KUBE_HOSTS = Array.from({ length: SECRETS }, (_, i) => ingressHost(i));
const ALL_HOSTS: [string, ...string[]] = [FRONT_DOOR_HOST, ...KUBE_HOSTS];
/** A report, running or finished, for an assertion message (4000 characters of its stages). */
const explain = (report: RolloutReport) => explainStages(report, 4000);

describe("the report of a running rollout with more targets than its custom status shows", () => {
  let world: World;
  let first: Version;

  before(async () => {
    world = await startWorld({
      subscribeEvents: false,
      frontDoorDelayMs: 200,
      probeHosts: {
        ...Object.fromEntries(KUBE_HOSTS.map((h) => [h, "ingress" as const])),
        [FRONT_DOOR_HOST]: "frontDoor",
      },
      // Orchestration seconds (the host runs 20× faster): the held Front Door stage waits up to 120 s,
      // far longer than the test holds it.
      settings: { PROBE_DEADLINE_FRONT_DOOR_SECONDS: "2400" },
    });
    const lab = world.lab;
    await configureLab(lab, "/lab/arm/settings", {
      frontDoorOperationMs: 100,
      frontDoorDeploymentMs: 200,
      lroRetryAfterSeconds: 0,
    });
    await configureLab(lab, "/lab/keyvault/settings", { createDelayMs: 100 });

    // 1. One certificate from the vault's integrated CA naming every bound host, as PEM.
    const policy: CertificatePolicy = {
      issuerName: "LabCA",
      subject: `CN=${FRONT_DOOR_HOST}`,
      subjectAlternativeNames: { dnsNames: ALL_HOSTS },
      keyType: "RSA",
      keySize: 2048,
      exportable: true,
      reuseKey: false,
      contentType: "application/x-pem-file",
      validityInMonths: 12,
    };
    const created = await (
      await world.certificates.beginCreateCertificate(CERTIFICATE, policy, { intervalInMs: 50 })
    ).pollUntilDone();
    first = {
      version: created.properties.version as string,
      thumbprint: thumb(created.properties.x509Thumbprint),
    };

    // 2. Kubernetes: the Secrets, annotated with the certificate and the version they carry (as the
    // control plane writes them), and one Ingress with a TLS host per Secret.
    const credential = new DefaultAzureCredential();
    const pem = (
      await new SecretClient(world.vaultUrl, credential).getSecret(CERTIFICATE, { version: first.version })
    ).value;
    assert.ok(pem, "the vault secret holds the PEM");
    const pair = tlsPair(pem);
    const { core, networking } = labKubernetes(lab);
    for (let i = 0; i < SECRETS; i++) {
      await createTlsSecret(core, {
        namespace: NAMESPACE,
        name: secretName(i),
        annotations: {
          "cert-rotation.e2e/certificate": `${VAULT}/${CERTIFICATE}`,
          "cert-rotation.e2e/version": first.version,
          "cert-rotation.e2e/thumbprint": first.thumbprint,
        },
        pair,
      });
    }
    await createTlsIngress(networking, {
      namespace: NAMESPACE,
      name: "report-many",
      hosts: KUBE_HOSTS.map((host, i) => ({ host, secretName: secretName(i) })),
    });

    // 3. Front Door: a customer-certificate secret pinned to this version and a custom domain using it.
    const seed = lab.ctx.seed;
    const cdn = new CdnManagementClient(credential, seed.subscriptionId, labArmOptions(lab));
    await createFrontDoorDomain(cdn, {
      resourceGroup: seed.resourceGroup,
      profile: seed.frontDoor.profile,
      vaultResourceId: labVaultResourceId(lab, VAULT),
      certificate: CERTIFICATE,
      version: first.version,
      name: DOMAIN,
      hostName: FRONT_DOOR_HOST,
    });

    await servesEverywhere(first.thumbprint, "every bound host to serve the first version");
  });

  after(async () => {
    await world?.stop();
  });

  /** Polls until every address of every bound host presents `thumbprint` in a real handshake. */
  const servesEverywhere = (thumbprint: string, what: string) =>
    waitUntilServed(world, ALL_HOSTS, thumbprint, what);

  it("shows every target with its previous and new version while a later stage runs", async () => {
    const lift = await holdFault(world.lab, {
      service: "edge",
      kind: "neverPropagate",
      match: `^frontDoor/westeurope ${FRONT_DOOR_HOST.replace(/\./g, "\\.")}$`,
    });
    try {
      await world.lab.control("POST", "/lab/edge/refresh");
      const next = await newVersion(world, CERTIFICATE, { intervalInMs: 50 });
      const started = await world.api("POST", "/api/rollouts", {
        vault: VAULT,
        certificate: CERTIFICATE,
        version: next.version,
      });
      assert.equal(started.status, 202, started.text);
      const { id, reportUri } = started.body as { id: string; reportUri: string };
      const reportPath = new URL(reportUri).pathname;

      // Held: the Kubernetes stage has finished and the Front Door stage has written and now probes
      // (its own custom status shows its target applied). Stage indices come from the plan.
      const frontDoorIndex = await world.waitFor(
        "the plan",
        async () => (await plannedStages(world, id))?.find((x) => x.stage === "frontDoor")?.index,
      );
      const frontDoorStage = stageInstanceId(id, next.version, frontDoorIndex, "frontDoor");
      await waitForStageProbing(
        world,
        "the Front Door stage to probe after its write",
        frontDoorStage,
        60_000,
      ).catch(async (e: Error) => {
        const s = await world.status(id);
        throw new Error(
          `${e.message}; the rotation is ${String(s?.runtimeStatus)}: ${JSON.stringify(s?.customStatus ?? s?.output).slice(0, 3000)}\n${world.logs().slice(-3000)}`,
        );
      });
      type Shown = RolloutReport & { progress?: { targets: number; shown: number } };
      const answer = await world.api("GET", reportPath);
      assert.equal(answer.status, 200, answer.text);
      const running = answer.body as Shown;
      const status = await world.api("GET", `${reportPath}/status`);
      assert.equal((status.body as { runtimeStatus: string }).runtimeStatus, "Running", status.text);
      assert.equal(running.outcome, undefined, "no outcome while it runs");

      // The custom status alone counts every target but shows fewer: the report had to join the audit row.
      const custom = (await world.status(id))?.customStatus as
        { summary: { targets: number; shown: number }; stages: { targets: unknown[] }[] } | undefined;
      assert.ok(custom, "the rotation has a custom status");
      const inCustomStatus = custom.stages.reduce((n, s) => n + s.targets.length, 0);
      assert.equal(custom.summary.targets, SECRETS + 1);
      assert.ok(inCustomStatus < SECRETS + 1, `the custom status shows ${inCustomStatus} target(s)`);
      assert.deepEqual(running.progress && [running.progress.targets], [SECRETS + 1], "the live counts");

      assert.deepEqual(
        running.stages.map((s) => [s.stage, s.status, s.targets.length]),
        [
          ["kubernetes", "succeeded", SECRETS],
          ["frontDoor", "pending", 1],
        ],
        explain(running),
      );
      const [kube, frontDoor] = running.stages as [
        RolloutReport["stages"][number],
        RolloutReport["stages"][number],
      ];
      // Every Secret is one target, each named in its description.
      for (let i = 0; i < SECRETS; i++)
        assert.equal(
          kube.targets.filter((t) => t.description.includes(`Secret ${NAMESPACE}/${secretName(i)} `)).length,
          1,
          `one target writes Secret ${secretName(i)}: ${explain(running)}`,
        );
      for (const t of kube.targets) {
        assert.equal(t.status, "verified", `${t.description}: ${explain(running)}`);
        assert.deepEqual([t.previous, t.next], [first, next], t.description);
      }
      assert.ok(frontDoor.startedAt, "the running stage says when it started");
      const fd = frontDoor.targets[0]!;
      assert.equal(fd.status, "applied", `${fd.description}: ${explain(running)}`);
      assert.equal(fd.previous.version, first.version, `${fd.description} had the first version`);
      assert.deepEqual(fd.next, next, fd.description);

      // The same as text: one line pair per target.
      const text = await world.api("GET", reportPath, undefined, { accept: "text/plain" });
      assert.equal(text.status, 200, text.text);
      assert.match(text.text, /: Running/);
      for (let i = 0; i < SECRETS; i++)
        assert.ok(text.text.includes(`Secret ${NAMESPACE}/${secretName(i)} `));
      const befores = text.text.match(/before: version (\S+),/g) ?? [];
      assert.equal(befores.length, SECRETS + 1, text.text);
      assert.ok(
        befores.every((b) => b.includes(first.version)),
        text.text,
      );

      // Released: the rollout ends Succeeded with the same targets, every host serving the new leaf.
      await lift();
      const report = await world.waitForRollout(id, 90_000);
      assert.equal(report.outcome?.state, "Succeeded", explain(report));
      assert.deepEqual(
        report.stages.flatMap((s) => s.targets.map((t) => [t.stepId, t.status])),
        running.stages.flatMap((s) => s.targets.map((t) => [t.stepId, "verified"])),
      );
      await servesEverywhere(next.thumbprint, "every bound host to serve the new version");
    } finally {
      await lift();
    }
  });
});
