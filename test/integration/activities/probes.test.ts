/**
 * probeEndpoints' judgement against the lab: the end-to-end request goes only to the hosts it is
 * given, takes its path from PROBE_END_TO_END_PATH and passes on any answer below 500 (a 2xx only
 * when PROBE_END_TO_END_REQUIRE_2XX asks); a `serves` probe without an expected leaf is never
 * reported as verified (unverifiable), and `rejectThumbprint` checks only that a leaf is gone.
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { probeEndpointsHandler } from "../../../src/activities/probeEndpoints.js";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import type { ReadCertificateOutput } from "../../../src/activities/contracts.js";
import { SEED } from "../../../emulator/lab/seed.js";
import { labProbeHostOverrides } from "../../support/labConfig.js";
import { startActivityWorld, type ActivityWorld } from "./activitySupport.js";

type Found = Extract<ReadCertificateOutput, { found: true }>;

/** An HTTPS origin with a lab-issued certificate for `host`, answering every request with `status`. */
interface Origin {
  host: string;
  port: number;
  paths: string[];
  close(): Promise<void>;
}

async function startOrigin(w: ActivityWorld, host: string, status: number): Promise<Origin> {
  const cert = await w.lab.ctx.pki.serverCertificate([host]);
  const paths: string[] = [];
  const server = https.createServer({ cert: cert.chainPem, key: cert.keyPem }, (req, res) => {
    paths.push(req.url ?? "");
    req.resume();
    res.writeHead(status, { "content-type": "text/plain", connection: "close" });
    res.end(`status ${status}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    host,
    port: (server.address() as AddressInfo).port,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let w: ActivityWorld;
let notFound: Origin;
let badGateway: Origin;
let ok: Origin;

/** Lab settings plus overrides that send the three origins' host names to them. */
function configure(more: Record<string, string> = {}): void {
  const extra = [notFound, badGateway, ok].map((o) => `${o.host}=127.0.0.1:${o.port}`).join(",");
  w.reconfigure({ overrides: { PROBE_HOST_OVERRIDES: `${labProbeHostOverrides(w.lab)},${extra}`, ...more } });
}

before(async () => {
  w = await startActivityWorld();
  notFound = await startOrigin(w, "notfound.contoso.test", 404);
  badGateway = await startOrigin(w, "broken.contoso.test", 502);
  ok = await startOrigin(w, "healthy.contoso.test", 200);
  configure();
});
after(async () => {
  await Promise.all([notFound, badGateway, ok].map((o) => o?.close()));
  await w?.dispose();
});

const ingressHost = SEED.certificates.ingress.hosts[0];
const edgeHost = SEED.certificates.edge.hosts[0];

test("the end-to-end request goes only to the given hosts (never every domain of the profile)", async () => {
  // Without PROBE_END_TO_END_HOSTS, the probes' own hosts are requested directly.
  configure({ PROBE_END_TO_END_HOSTS: "" });
  const r = await probeEndpointsHandler(
    { stage: "kubernetes", probes: [{ hostName: ingressHost, expect: "accepts" }], endToEnd: true },
    w.context(),
  );
  const endToEnd = r.evidence.filter((e) => e.detail?.startsWith("end to end"));
  assert.ok(endToEnd.length > 0, JSON.stringify(r.evidence));
  assert.deepEqual([...new Set(endToEnd.map((e) => e.hostName))], [ingressHost]);
  assert.equal(r.ok, true, JSON.stringify(r.evidence));
  // endToEndHosts wins over the probes' hosts.
  const r2 = await probeEndpointsHandler(
    {
      stage: "frontDoor",
      probes: [{ hostName: edgeHost, expect: "accepts" }],
      endToEnd: true,
      endToEndHosts: [ok.host],
    },
    w.context(),
  );
  assert.deepEqual(
    [...new Set(r2.evidence.filter((e) => e.detail?.startsWith("end to end")).map((e) => e.hostName))],
    [ok.host],
  );
  assert.equal(r2.ok, true, JSON.stringify(r2.evidence));
});

test("PROBE_END_TO_END_HOSTS sends the end-to-end request of an inner stage through the whole chain", async () => {
  configure({ PROBE_END_TO_END_HOSTS: edgeHost });
  const r = await probeEndpointsHandler(
    { stage: "kubernetes", probes: [{ hostName: ingressHost, expect: "accepts" }], endToEnd: true },
    w.context(),
  );
  const endToEnd = r.evidence.filter((e) => e.detail?.startsWith("end to end"));
  assert.deepEqual([...new Set(endToEnd.map((e) => e.hostName))], [edgeHost]);
  // Front Door -> APIM -> ingress (mTLS) -> backend answered: every hop accepted the next one.
  assert.ok(
    endToEnd.every((e) => e.ok && /HTTP 200/.test(e.detail ?? "")),
    JSON.stringify(endToEnd),
  );
  configure();
});

test("an end-to-end 404 passes, a 502 fails, and a 404 fails when a 2xx is required", async () => {
  configure({ PROBE_END_TO_END_PATH: "/health/ready" });
  const e2e = (host: string) =>
    probeEndpointsHandler(
      { stage: "frontDoor", probes: [], endToEnd: true, endToEndHosts: [host] },
      w.context(),
    );
  const four = await e2e(notFound.host);
  assert.equal(four.ok, true, JSON.stringify(four.evidence));
  assert.match(four.evidence[0]!.detail!, /GET \/health\/ready .*HTTP 404/);
  assert.deepEqual(notFound.paths, ["/health/ready"], "the configured path was requested");
  const five = await e2e(badGateway.host);
  assert.equal(five.ok, false, JSON.stringify(five.evidence));
  assert.match(five.evidence[0]!.detail!, /HTTP 502 \(a server error\)/);
  configure({ PROBE_END_TO_END_REQUIRE_2XX: "true" });
  const strict = await e2e(notFound.host);
  assert.equal(strict.ok, false, JSON.stringify(strict.evidence));
  assert.equal((await e2e(ok.host)).ok, true);
  configure();
});

test("through the lab chain, the outermost host answers the end-to-end request", async () => {
  configure();
  const r = await probeEndpointsHandler(
    { stage: "frontDoor", probes: [], endToEnd: true, endToEndHosts: [edgeHost] },
    w.context(),
  );
  assert.equal(r.ok, true, JSON.stringify(r.evidence));
  assert.ok(r.evidence.length >= 2, "every edge location is asked");
});

test("a serves probe without an expected leaf is unverifiable; rejectThumbprint checks only that a leaf is gone", async () => {
  configure();
  const cur = (await readCertificateHandler(
    { vaultName: SEED.vault.name, certificateName: SEED.certificates.ingress.name },
    w.context(),
  )) as Found;
  const probes = [{ hostName: ingressHost, expect: "serves" as const }];
  const bare = await probeEndpointsHandler({ stage: "kubernetes", probes }, w.context());
  assert.equal(bare.ok, false, JSON.stringify(bare.evidence));
  assert.match(bare.evidence[0]!.detail!, /unverifiable/);
  assert.equal(bare.evidence[0]!.servedThumbprint, cur.thumbprint, "what is served is still reported");
  const stillServed = await probeEndpointsHandler(
    { stage: "kubernetes", probes, rejectThumbprint: cur.thumbprint.toLowerCase() },
    w.context(),
  );
  assert.equal(stillServed.ok, false, JSON.stringify(stillServed.evidence));
  const gone = await probeEndpointsHandler(
    { stage: "kubernetes", probes, rejectThumbprint: "AB".repeat(20) },
    w.context(),
  );
  assert.equal(gone.ok, true, JSON.stringify(gone.evidence));
  assert.match(gone.evidence[0]!.detail!, /only its absence was checked/);
  const expected = await probeEndpointsHandler(
    { stage: "kubernetes", probes, expectThumbprint: cur.thumbprint, rejectThumbprint: cur.thumbprint },
    w.context(),
  );
  assert.equal(expected.ok, true, "an expected leaf decides; rejectThumbprint is only the fallback");
});
