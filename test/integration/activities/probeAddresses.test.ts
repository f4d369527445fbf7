/**
 * Probe addresses (S11) against the lab: when a host name resolves to another hop (here the lab's
 * "DNS", PROBE_HOST_OVERRIDES, sends the ingress's host name to Front Door, as public DNS sends a
 * name served at every hop to the outermost one), a probe with its binding's address connects there,
 * still with the host name as SNI and Host header and validating the certificate against it.
 * Discovery gives APIM bindings the service's gateway host and Kubernetes bindings the Ingress
 * load-balancer address; Front Door none.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { after, before, test } from "node:test";
import type { ApiManagementServiceResource } from "@azure/arm-apimanagement";
import type { V1Ingress } from "@kubernetes/client-node";
import { discoverAllBindingsHandler } from "../../../src/activities/discoverAllBindings.js";
import { probeEndpointsHandler } from "../../../src/activities/probeEndpoints.js";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import { resolveBindingsHandler } from "../../../src/activities/resolveBindings.js";
import { apimAddresses } from "../../../src/discovery.js";
import { probeTargets, type ProbeSpec } from "../../../src/domain/bindings.js";
import { buildPlan, planSteps } from "../../../src/domain/plan.js";
import { ingressStatusAddresses } from "../../../src/kubernetes/tlsSecrets.js";
import { SEED, clusterId } from "../../../emulator/lab/seed.js";
import { labProbeHostOverrides } from "../../support/labConfig.js";
import { startActivityWorld, type ActivityWorld } from "./activitySupport.js";
import { aStagePolicy } from "../../support/policyBuilders.js";

const C = SEED.certificates;
const vaultName = SEED.vault.name;
const ingressHost = C.ingress.hosts[0];
const apimHost = C.apim.hosts[0];
const edgeHost = C.edge.hosts[0];

/** An HTTPS server with a lab certificate for `host`, recording the SNI and Host header it is sent. */
interface Origin {
  port: number;
  thumbprint: string;
  seen: { servername: string | false | null; host: string | undefined }[];
  close(): Promise<void>;
}

async function startOrigin(w: ActivityWorld, host: string): Promise<Origin> {
  const cert = await w.lab.ctx.pki.serverCertificate([host]);
  const seen: Origin["seen"] = [];
  const server = https.createServer({ cert: cert.chainPem, key: cert.keyPem }, (req, res) => {
    seen.push({ servername: (req.socket as TLSSocket).servername, host: req.headers.host });
    req.resume();
    res.writeHead(200, { connection: "close" }).end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    thumbprint: new X509Certificate(cert.chainPem).fingerprint.replace(/:/g, ""),
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let w: ActivityWorld;
let dir: string;
let labOverrides: Map<string, string>;
before(async () => {
  w = await startActivityWorld();
  dir = mkdtempSync(join(tmpdir(), "probe-addresses-"));
  labOverrides = new Map(
    labProbeHostOverrides(w.lab)
      .split(",")
      .map((e) => e.split("=") as [string, string]),
  );
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await w.dispose();
});

/** The lab's PROBE_HOST_OVERRIDES with some hosts sent elsewhere (or, with "", left to DNS). */
function overrides(change: Record<string, string>): string {
  const m = new Map([...labOverrides, ...Object.entries(change)]);
  return [...m]
    .filter(([, to]) => to !== "")
    .map(([h, to]) => `${h}=${to}`)
    .join(",");
}

const edge = () => w.lab.endpoints.edge as { ingress: string; apim: string };
const frontDoorAddresses = () => labOverrides.get(edgeHost)!;

async function current(certificateName: string): Promise<string> {
  const r = await readCertificateHandler({ vaultName, certificateName }, w.context());
  assert.ok(r.found, `certificate ${certificateName} not found`);
  return r.thumbprint;
}

const withoutAddresses = (probes: ProbeSpec[]): ProbeSpec[] =>
  probes.map((p) => ({ hostName: p.hostName, expect: p.expect }));

test("a bindings-file address wins over a host name that resolves to Front Door: the ingress itself is probed", async () => {
  const file = join(dir, "ingress.json");
  writeFileSync(
    file,
    JSON.stringify({
      bindings: [
        {
          kind: "kubernetesSecret",
          certificate: `${vaultName}/${C.ingress.name}`,
          cluster: clusterId(),
          namespace: SEED.cluster.ingress.namespace,
          secretName: SEED.cluster.ingress.secret,
          ingressHosts: [ingressHost],
          probeAddresses: [edge().ingress],
        },
      ],
    }),
  );
  // The lab's "DNS" sends the ingress's host name to the Front Door edge, as public DNS would.
  w.reconfigure({
    overrides: {
      BINDINGS_FILE: file,
      PROBE_HOST_OVERRIDES: overrides({ [ingressHost]: frontDoorAddresses() }),
    },
  });
  const resolved = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName: C.ingress.name } },
    w.context(),
  );
  assert.deepEqual(resolved.warnings, []);
  const built = buildPlan({
    policy: aStagePolicy(),
    certificate: {
      vaultName,
      vaultUrl: "https://kv.example",
      certificateName: C.ingress.name,
      version: "v",
    },
    bindings: resolved.bindings.filter((b) => b.kind === "kubernetesSecret" && b.role === "tls"),
  });
  assert.ok(built.ok, JSON.stringify(built));
  const probes = planSteps(built.plan).flatMap((s) => s.probes);
  assert.deepEqual(
    probes.map((p) => p.connectTo),
    [
      {
        source: "explicit",
        addresses: [{ address: "127.0.0.1", port: Number(edge().ingress.split(":")[1]) }],
      },
    ],
  );
  const thumbprint = await current(C.ingress.name);

  const viaAddress = await probeEndpointsHandler(
    { stage: "kubernetes", probes, expectThumbprint: thumbprint },
    w.context(),
  );
  assert.equal(viaAddress.ok, true, JSON.stringify(viaAddress.evidence));
  assert.deepEqual(
    viaAddress.evidence.map((e) => [e.hostName, e.servedThumbprint, e.detail?.split(": ")[0]]),
    [[ingressHost, thumbprint, edge().ingress]],
  );

  // The same probes resolving the name reach Front Door, which does not serve the ingress certificate.
  const viaName = await probeEndpointsHandler(
    { stage: "kubernetes", probes: withoutAddresses(probes), expectThumbprint: thumbprint },
    w.context(),
  );
  assert.equal(viaName.ok, false, JSON.stringify(viaName.evidence));
  assert.ok(viaName.evidence.every((e) => e.servedThumbprint !== thumbprint));
  assert.ok(
    viaName.evidence.every((e) => frontDoorAddresses().includes(e.detail!.split(": ")[0]!)),
    JSON.stringify(viaName.evidence),
  );
  w.reconfigure({});
});

test("the same host name at two hops: the address decides which is probed; SNI and Host stay the host name", async () => {
  const host = "shared.contoso.test";
  const inner = await startOrigin(w, host);
  const outer = await startOrigin(w, host);
  try {
    w.reconfigure({ overrides: { PROBE_HOST_OVERRIDES: overrides({ [host]: `127.0.0.1:${outer.port}` }) } });
    const at = [{ address: "127.0.0.1", port: inner.port }];
    const serves: ProbeSpec = {
      hostName: host,
      expect: "serves",
      connectTo: { source: "explicit", addresses: at },
    };
    const r = await probeEndpointsHandler(
      { stage: "apim", probes: [serves], expectThumbprint: inner.thumbprint },
      w.context(),
    );
    assert.equal(r.ok, true, JSON.stringify(r.evidence));
    const byName = await probeEndpointsHandler(
      { stage: "apim", probes: withoutAddresses([serves]), expectThumbprint: inner.thumbprint },
      w.context(),
    );
    assert.equal(byName.ok, false);
    assert.equal(byName.evidence[0]?.servedThumbprint, outer.thumbprint);

    // An accepts probe sends a request: the inner origin sees the host name in SNI and Host.
    const accepts = await probeEndpointsHandler(
      { stage: "apim", probes: [{ ...serves, expect: "accepts" }] },
      w.context(),
    );
    assert.equal(accepts.ok, true, JSON.stringify(accepts.evidence));
    assert.deepEqual(inner.seen, [{ servername: host, host }]);
    assert.deepEqual(outer.seen, []);
  } finally {
    await Promise.all([inner.close(), outer.close()]);
    w.reconfigure({});
  }
});

test("a certificate that does not cover the host name fails at the address, as it would by name", async () => {
  const other = await startOrigin(w, "other.contoso.test");
  try {
    const probe: ProbeSpec = {
      hostName: "shared.contoso.test",
      expect: "serves",
      connectTo: { source: "explicit", addresses: [{ address: "127.0.0.1", port: other.port }] },
    };
    const r = await probeEndpointsHandler(
      { stage: "apim", probes: [probe], expectThumbprint: other.thumbprint },
      w.context(),
    );
    assert.equal(r.ok, false, JSON.stringify(r.evidence));
    assert.match(r.evidence[0]!.detail!, /name:/);
  } finally {
    await other.close();
  }
});

test("discovery gives APIM the gateway host and Kubernetes the Ingress status address; Front Door none", async () => {
  const r = await discoverAllBindingsHandler({}, w.context());
  assert.deepEqual(r.warnings, []);
  const got = r.bindings.map((b) => [b.kind, b.certificate.certificateName, b.discoveredAddresses]).sort();
  const gateway = [{ address: `${SEED.apim.service}.azure-api.net`, port: 443 }];
  // The lab's ingress controller publishes 127.0.0.1 (without its loopback port) as real ones publish their load balancer IP.
  const lb = [{ address: "127.0.0.1", port: 443 }];
  assert.deepEqual(got, [
    ["apimCertificate", C.client.name, gateway],
    ["apimHostname", C.apim.name, gateway],
    ["frontDoorSecret", C.edge.name, undefined],
    ["kubernetesSecret", C.client.name, lb],
    ["kubernetesSecret", C.ingress.name, lb],
  ]);
});

test("a discovered address is probed when no override names the host; an address given by name is resolved like one", async () => {
  const resolved = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName: C.apim.name } },
    w.context(),
  );
  const apim = resolved.bindings.find((b) => b.kind === "apimHostname")!;
  const probes = probeTargets(apim);
  const thumbprint = await current(C.apim.name);
  // The custom host name is left to DNS (nothing resolves *.contoso.test here); the gateway's host
  // name apim-contoso.azure-api.net is in the lab's overrides, standing in for its public DNS.
  w.reconfigure({ overrides: { PROBE_HOST_OVERRIDES: overrides({ [apimHost]: "" }) } });
  const r = await probeEndpointsHandler({ stage: "apim", probes, expectThumbprint: thumbprint }, w.context());
  assert.equal(r.ok, true, JSON.stringify(r.evidence));
  assert.equal(r.evidence[0]?.detail?.split(": ")[0], edge().apim);
  const byName = await probeEndpointsHandler(
    { stage: "apim", probes: withoutAddresses(probes), expectThumbprint: thumbprint },
    w.context(),
  );
  assert.equal(byName.ok, false, "without the address the custom host name does not resolve");
  assert.match(byName.evidence[0]!.detail!, new RegExp(`^${apimHost}:443: `));

  // In the lab an override for the host itself comes before discovered addresses (lab self-reports
  // such as the Ingress status are not where the lab listens); only a bindings-file address beats it.
  w.reconfigure({ overrides: { PROBE_HOST_OVERRIDES: overrides({ [apimHost]: frontDoorAddresses() }) } });
  const overridden = await probeEndpointsHandler(
    { stage: "apim", probes, expectThumbprint: thumbprint },
    w.context(),
  );
  assert.equal(overridden.ok, false, JSON.stringify(overridden.evidence));
  w.reconfigure({});
});

test("Ingress status addresses: IP or host name on 443, the only listed port otherwise, nothing when unclear", () => {
  const ing = (...entries: unknown[]) => ({ status: { loadBalancer: { ingress: entries } } }) as V1Ingress;
  const cases: [string, V1Ingress, { address: string; port: number }[]][] = [
    ["an IP", ing({ ip: "10.240.0.7" }), [{ address: "10.240.0.7", port: 443 }]],
    ["a host name", ing({ hostname: "LB.example.net" }), [{ address: "lb.example.net", port: 443 }]],
    [
      "443 among the ports",
      ing({ ip: "10.0.0.1", ports: [{ port: 80 }, { port: 443 }] }),
      [{ address: "10.0.0.1", port: 443 }],
    ],
    [
      "one other port",
      ing({ ip: "127.0.0.1", ports: [{ port: 8453, protocol: "TCP" }] }),
      [{ address: "127.0.0.1", port: 8453 }],
    ],
    ["several other ports", ing({ ip: "10.0.0.1", ports: [{ port: 80 }, { port: 8443 }] }), []],
    ["no status", {}, []],
  ];
  for (const [name, i, want] of cases) assert.deepEqual(ingressStatusAddresses(i), want, name);
});

test("APIM addresses come from the service's own properties, per hostname type", () => {
  const svc = (more: Partial<ApiManagementServiceResource>) =>
    ({
      gatewayUrl: "https://apim-x.azure-api.net",
      gatewayRegionalUrl: "https://apim-x-westeurope-01.regional.azure-api.net",
      portalUrl: "https://apim-x.portal.azure-api.net",
      developerPortalUrl: "https://apim-x.developer.azure-api.net",
      managementApiUrl: "https://apim-x.management.azure-api.net",
      scmUrl: "https://apim-x.scm.azure-api.net",
      privateIPAddresses: ["10.1.0.5"],
      ...more,
    }) as ApiManagementServiceResource;
  const names = (s: ApiManagementServiceResource, t: Parameters<typeof apimAddresses>[1]) =>
    apimAddresses(s, t).map((a) => `${a.address}:${a.port}`);
  assert.deepEqual(names(svc({}), "Proxy"), ["apim-x.azure-api.net:443"]);
  assert.deepEqual(names(svc({}), undefined), ["apim-x.azure-api.net:443"]);
  assert.deepEqual(names(svc({}), "DeveloperPortal"), ["apim-x.developer.azure-api.net:443"]);
  assert.deepEqual(names(svc({}), "Management"), ["apim-x.management.azure-api.net:443"]);
  assert.deepEqual(names(svc({}), "ConfigurationApi"), []);
  assert.deepEqual(names(svc({ virtualNetworkType: "Internal" }), "Portal"), ["10.1.0.5:443"]);
  const regions = svc({
    additionalLocations: [
      {
        location: "eastus",
        sku: { name: "Premium", capacity: 1 },
        gatewayRegionalUrl: "https://apim-x-eastus-01.regional.azure-api.net",
      },
      {
        location: "westus",
        sku: { name: "Premium", capacity: 1 },
        gatewayRegionalUrl: "https://apim-x-westus-01.regional.azure-api.net",
        disableGateway: true,
      },
    ],
  });
  assert.deepEqual(names(regions, "Proxy"), [
    "apim-x-westeurope-01.regional.azure-api.net:443",
    "apim-x-eastus-01.regional.azure-api.net:443",
  ]);
});
