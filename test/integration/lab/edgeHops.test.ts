/**
 * The data-plane hops on their own, fed by deployment views the test controls: SNI selection, the
 * end-to-end chain Front Door → APIM → ingress → backend, per-location propagation, validation of
 * the next hop with the real services' failure answers, every edge fault, and inspection with the
 * real openssl and curl binaries.
 */
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { X509Certificate } from "node:crypto";
import { LabClock } from "../../../emulator/lab/core/clock.js";
import { FaultRegistry } from "../../../emulator/lab/core/faults.js";
import {
  LabPki,
  createCertificateAuthority,
  issueCertificate,
  type CertificateAuthority,
  type IssueOptions,
} from "../../../emulator/lab/core/pki.js";
import { Edge } from "../../../emulator/lab/edge/edge.js";
import type {
  ApimView,
  FrontDoorView,
  IngressView,
  ServedCertificate,
} from "../../../emulator/lab/edge/view.js";
import { getByName, handshake, healthOf, pollUntil, servedThumbprint } from "./edgeSupport.js";
import type { HealthDocument } from "../../../emulator/lab/edge/backend.js";

const run = promisify(execFile);
const API = "api.contoso.test";
const APIM = "apim.contoso.test";
const BACKEND = "backend.contoso.test";

let dir: string;
let pki: LabPki;
let ca: string;
let clock: LabClock;
let faults: FaultRegistry;
let edge: Edge;
let clientCa: CertificateAuthority;
let foreignCa: CertificateAuthority;
let views: { frontDoor: FrontDoorView; apim: ApimView; ingress: IngressView };
let baseline: () => typeof views;

const thumb = (c: ServedCertificate) =>
  new X509Certificate(c.chainPem.split(/(?<=-----END CERTIFICATE-----)/)[0]!).fingerprint.replace(/:/g, "");

async function issue(
  names: string[],
  options: Partial<IssueOptions> = {},
  label = names[0]!,
): Promise<ServedCertificate> {
  const c = await pki.issue({ subject: `CN=${names[0]}`, names, ...options });
  return { chainPem: c.chainPem, keyPem: c.keyPem, source: label };
}

async function apply(change: (v: typeof views) => void): Promise<void> {
  change(views);
  await edge.refresh();
}

const fdPort = (location: string) => edge.frontDoor.port(location)!;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "edge-"));
  pki = await LabPki.open(dir);
  ca = pki.root.certPem;
  clock = new LabClock();
  faults = new FaultRegistry();
  clientCa = await createCertificateAuthority("Contoso APIM client CA");
  foreignCa = await createCertificateAuthority("Foreign CA");
  const client = await issueCertificate(clientCa, {
    subject: "CN=apim-client.contoso.test, O=Contoso",
    names: ["apim-client.contoso.test"],
    usage: "client",
    issuer: clientCa,
  });
  const [api, apim, backend] = await Promise.all([issue([API]), issue([APIM]), issue([BACKEND])]);
  baseline = () => ({
    frontDoor: {
      domains: [
        { hostName: API, certificate: api, origin: { hostName: APIM, enforceCertificateNameCheck: true } },
      ],
    },
    apim: {
      hostnames: [{ hostName: APIM, certificate: apim }],
      backend: {
        url: `https://${BACKEND}/`,
        clientCertificate: { chainPem: client.chainPem, keyPem: client.keyPem, source: "client" },
        validateCertificateChain: true,
        validateCertificateName: true,
      },
    },
    ingress: {
      hosts: [
        {
          hostName: BACKEND,
          certificate: backend,
          clientAuth: { caPem: clientCa.certPem, verify: "on", passCertificateToUpstream: false },
        },
      ],
    },
  });
  views = baseline();
  edge = await Edge.start({
    clock,
    faults,
    pki,
    sources: {
      frontDoor: { read: () => views.frontDoor },
      apim: { read: () => views.apim },
      ingress: { read: () => views.ingress },
    },
    locations: [
      { name: "westeurope", propagationDelayMs: 0 },
      { name: "eastus", propagationDelayMs: 0 },
    ],
    ports: { apim: 0, ingress: 0, backend: 0 },
  });
});

beforeEach(async () => {
  faults.clear();
  edge.frontDoor.setDelay("westeurope", 0);
  edge.frontDoor.setDelay("eastus", 0);
  views = baseline();
  await edge.refresh(true);
});

after(async () => {
  await edge?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("each hop serves its own names by SNI and refuses names it does not host", async () => {
  const v = baseline();
  assert.equal(
    await servedThumbprint(fdPort("westeurope"), API),
    thumb(v.frontDoor.domains[0]!.certificate!),
  );
  assert.equal(await servedThumbprint(edge.apim.port, APIM), thumb(v.apim.hostnames[0]!.certificate!));
  assert.equal(await servedThumbprint(edge.ingress.port, BACKEND), thumb(v.ingress.hosts[0]!.certificate!));
  for (const port of [fdPort("westeurope"), fdPort("eastus"), edge.apim.port]) {
    const unknown = await handshake(port, "unknown.contoso.test");
    assert.equal(unknown.ok, false, "Front Door and APIM fail the handshake for a name they do not host");
    assert.equal((await handshake(port, undefined)).ok, false, "and without SNI");
  }
  assert.equal(
    (await handshake(fdPort("westeurope"), APIM)).ok,
    false,
    "Front Door does not answer for APIM's name",
  );
  const fake = await handshake(edge.ingress.port, "unknown.contoso.test");
  assert.ok(
    fake.ok && fake.subject.includes("Kubernetes Ingress Controller Fake Certificate"),
    "ingress-nginx serves its fake default certificate",
  );
  const notFound = await getByName(edge.ingress.port, "unknown.contoso.test", ca).catch((e: Error) => e);
  assert.ok(notFound instanceof Error, "clients reject the fake certificate");
});

test("a request through Front Door, APIM and the ingress reaches the backend, which reports every hop", async () => {
  const v = baseline();
  const answer = await getByName(fdPort("eastus"), API, ca, "/health?x=1");
  assert.equal(
    answer.status,
    200,
    `${String(answer.headers["x-lab-error-info"])}: ${String(answer.headers["x-lab-error-detail"])}`,
  );
  const doc = healthOf(answer);
  assert.equal(doc.status, "Healthy");
  assert.equal(doc.path, "/health?x=1");
  assert.deepEqual(
    doc.hops.map((h) => h.hop),
    ["frontdoor", "apim", "ingress"],
  );
  const [fd, apim, ingress] = doc.hops;
  assert.equal(fd?.location, "eastus");
  assert.equal(fd?.served, thumb(v.frontDoor.domains[0]!.certificate!));
  assert.equal(fd?.originCertificate, thumb(v.apim.hostnames[0]!.certificate!));
  assert.equal(apim?.backendCertificate, thumb(v.ingress.hosts[0]!.certificate!));
  assert.equal(apim?.clientCertificate, thumb(v.apim.backend!.clientCertificate!));
  assert.equal(ingress?.clientVerify, "SUCCESS");
  assert.equal(doc.clientCertificate?.verify, "SUCCESS");
  assert.equal(
    doc.clientCertificate?.subject,
    "O=Contoso,CN=apim-client.contoso.test",
    "RFC 2253 order, as nginx's $ssl_client_s_dn",
  );
  assert.ok(answer.headers["x-azure-ref"], "Front Door adds x-azure-ref");
});

test("edge locations pick up a new certificate after their own propagation delays", async () => {
  edge.frontDoor.setDelay("westeurope", 100);
  edge.frontDoor.setDelay("eastus", 400);
  const old = thumb(views.frontDoor.domains[0]!.certificate!);
  const next = await issue([API]);
  const start = Date.now();
  await apply((v) => (v.frontDoor.domains[0]!.certificate = next));
  assert.equal(await servedThumbprint(fdPort("westeurope"), API), old, "not before the delay");
  const west = pollUntil(
    () => servedThumbprint(fdPort("westeurope"), API),
    (t) => t === thumb(next),
    3_000,
  );
  const east = pollUntil(
    () => servedThumbprint(fdPort("eastus"), API),
    (t) => t === thumb(next),
    3_000,
  );
  const [w, e] = await Promise.all([west, east]);
  assert.ok(w.ok && e.ok, "both locations flip eventually");
  const [wAfter, eAfter] = [w.at - start, e.at - start];
  assert.ok(wAfter >= 100, `westeurope flipped ${wAfter} ms after the deployment, before its 100 ms delay`);
  assert.ok(eAfter >= 400, `eastus flipped ${eAfter} ms after the deployment, before its 400 ms delay`);
  assert.ok(eAfter - wAfter >= 200, `the locations flipped only ${eAfter - wAfter} ms apart`);
  assert.equal((await getByName(fdPort("eastus"), API, ca)).status, 200);
});

test("a deployment that finished in the past counts from its finish time, on the lab clock", async () => {
  edge.frontDoor.setDelay("westeurope", 60_000);
  const next = await issue([API]);
  await apply((v) => {
    v.frontDoor.domains[0]!.certificate = next;
    v.frontDoor.domains[0]!.deployedAt = clock.now();
  });
  assert.notEqual(await servedThumbprint(fdPort("westeurope"), API), thumb(next));
  clock.advance(61_000);
  assert.equal(await servedThumbprint(fdPort("westeurope"), API), thumb(next));
});

test("Front Door answers 502 CertificateNameCheckFailed when the origin certificate misses the origin name", async () => {
  const wrongSan = await issue(["other.contoso.test", APIM.replace("apim", "apim2")]);
  await apply((v) => (v.apim.hostnames[0]!.certificate = wrongSan));
  // APIM serves it for its own name (SNI), but the name does not match.
  const answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 502);
  assert.equal(answer.headers["x-lab-error-info"], "CertificateNameCheckFailed");
  assert.equal(answer.headers["x-lab-error-code"], "ERR_TLS_CERT_ALTNAME_INVALID");
  assert.match(answer.body, /Our services aren't available right now/);
  await apply((v) => (v.frontDoor.domains[0]!.origin!.enforceCertificateNameCheck = false));
  assert.equal(
    (await getByName(fdPort("westeurope"), API, ca)).status,
    200,
    "with the name check off, it passes",
  );
});

test("Front Door answers 502 CertificateError for an expired or untrusted origin certificate", async () => {
  const expired = await issue([APIM], {
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  await apply((v) => (v.apim.hostnames[0]!.certificate = expired));
  let answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 502);
  assert.equal(answer.headers["x-lab-error-info"], "CertificateError");
  assert.equal(answer.headers["x-lab-error-code"], "CERT_HAS_EXPIRED");

  const foreign = await issueCertificate(foreignCa, {
    subject: `CN=${APIM}`,
    names: [APIM],
    issuer: foreignCa,
  });
  await apply(
    (v) =>
      (v.apim.hostnames[0]!.certificate = {
        chainPem: foreign.chainPem,
        keyPem: foreign.keyPem,
        source: "foreign",
      }),
  );
  answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 502);
  assert.equal(answer.headers["x-lab-error-info"], "CertificateError");
  assert.match(
    String(answer.headers["x-lab-error-code"]),
    /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/,
  );
});

test("an origin certificate valid by the wall clock fails once the lab clock passes its expiry", async () => {
  const short = await issue([APIM], { notAfter: new Date(clock.now().getTime() + 3_600_000) });
  await apply((v) => (v.apim.hostnames[0]!.certificate = short));
  assert.equal((await getByName(fdPort("westeurope"), API, ca)).status, 200);
  const saved = clock.offset;
  clock.advance(2 * 3_600_000);
  const answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 502);
  assert.equal(answer.headers["x-lab-error-code"], "CERT_HAS_EXPIRED");
  // The clock only moves forward; later tests issue certificates relative to it.
  assert.ok(clock.offset > saved);
});

test("APIM validates the ingress certificate chain and name only when the backend's TLS settings say so", async () => {
  const foreign = await issueCertificate(foreignCa, {
    subject: `CN=${BACKEND}`,
    names: [BACKEND],
    issuer: foreignCa,
  });
  await apply(
    (v) =>
      (v.ingress.hosts[0]!.certificate = {
        chainPem: foreign.chainPem,
        keyPem: foreign.keyPem,
        source: "foreign",
      }),
  );
  let answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 500, "APIM answers 500, and Front Door passes it on");
  assert.equal(answer.headers["x-lab-error-hop"], "apim");
  assert.equal(answer.headers["x-lab-error-info"], "BackendConnectionFailure");
  assert.equal((answer.json as { message?: string } | undefined)?.message, "Internal server error");
  await apply((v) => (v.apim.backend!.validateCertificateChain = false));
  assert.equal((await getByName(fdPort("westeurope"), API, ca)).status, 200);

  const wrongName = await issue(["elsewhere.contoso.test"]);
  await apply((v) => {
    v.ingress.hosts[0]!.certificate = wrongName;
    v.apim.backend!.validateCertificateChain = true;
  });
  answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 500);
  assert.equal(answer.headers["x-lab-error-code"], "ERR_TLS_CERT_ALTNAME_INVALID");
  await apply((v) => (v.apim.backend!.validateCertificateName = false));
  assert.equal((await getByName(fdPort("westeurope"), API, ca)).status, 200);
});

test("the ingress answers 400 like nginx when APIM's client certificate is missing or not from the trusted CA", async () => {
  await apply((v) => (v.apim.backend!.clientCertificate = undefined));
  let answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 400);
  assert.match(answer.body, /<title>400 No required SSL certificate was sent<\/title>/);
  assert.equal(answer.headers["x-lab-error-hop"], "ingress");

  const untrusted = await issueCertificate(foreignCa, {
    subject: "CN=apim-client.contoso.test",
    names: ["apim-client.contoso.test"],
    usage: "client",
    issuer: foreignCa,
  });
  await apply(
    (v) =>
      (v.apim.backend!.clientCertificate = {
        chainPem: untrusted.chainPem,
        keyPem: untrusted.keyPem,
        source: "x",
      }),
  );
  answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 400);
  assert.match(answer.body, /<title>400 The SSL certificate error<\/title>/);

  await apply((v) => (v.ingress.hosts[0]!.clientAuth!.verify = "optional_no_ca"));
  answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 200);
  assert.match(healthOf(answer).clientCertificate?.verify ?? "", /^FAILED:/);
});

test("a Secret change shows at the ingress on the next refresh", async () => {
  const next = await issue([BACKEND]);
  await apply((v) => (v.ingress.hosts[0]!.certificate = next));
  assert.equal(await servedThumbprint(edge.ingress.port, BACKEND), thumb(next));
});

test("fault neverPropagate: one location never picks up a certificate deployed after it was set", async () => {
  faults.add({ service: "edge", kind: "neverPropagate", match: "^frontDoor/eastus " });
  await edge.refresh();
  const old = thumb(views.frontDoor.domains[0]!.certificate!);
  const next = await issue([API]);
  await apply((v) => (v.frontDoor.domains[0]!.certificate = next));
  assert.equal(await servedThumbprint(fdPort("westeurope"), API), thumb(next));
  // A bounded poll to show something does NOT happen: both locations have no delay here and westeurope
  // already serves the new leaf, so eastus would too within 300 ms were it not for the fault.
  const east = await pollUntil(
    () => servedThumbprint(fdPort("eastus"), API),
    (t) => t !== old,
    300,
  );
  assert.equal(east.ok, false, "eastus keeps the old certificate");
  faults.clear("edge");
  assert.equal(
    await servedThumbprint(fdPort("eastus"), API),
    thumb(next),
    "and picks it up once the fault is gone",
  );
});

test("faults staleCertificate and wrongCertificate: a hop serves the previous or another name's certificate", async () => {
  const old = thumb(views.apim.hostnames[0]!.certificate!);
  const next = await issue([APIM]);
  await apply((v) => (v.apim.hostnames[0]!.certificate = next));
  assert.equal(await servedThumbprint(edge.apim.port, APIM), thumb(next));
  faults.add({ service: "edge", kind: "staleCertificate", match: "^apim ", count: 1 });
  assert.equal(await servedThumbprint(edge.apim.port, APIM), old);
  assert.equal(await servedThumbprint(edge.apim.port, APIM), thumb(next), "count 1: one handshake only");

  faults.add({ service: "edge", kind: "wrongCertificate", match: "^ingress " });
  const wrong = await handshake(edge.ingress.port, BACKEND, { ca });
  assert.ok(wrong.ok && wrong.subject === "CN=wrong.contoso.test");
  const answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 500, "APIM rejects the wrong name");
  assert.equal(answer.headers["x-lab-error-code"], "ERR_TLS_CERT_ALTNAME_INVALID");
});

test("fault handshakeDelay: the hop answers the ClientHello late", async () => {
  faults.add({
    service: "edge",
    kind: "handshakeDelay",
    match: `^apim ${APIM.replace(/\./g, "\\.")}$`,
    latencyMs: 250,
    count: 1,
  });
  const start = Date.now();
  const r = await handshake(edge.apim.port, APIM);
  const took = Date.now() - start;
  assert.ok(r.ok);
  assert.ok(took >= 240, `the handshake took ${took} ms`);
  const again = Date.now();
  await handshake(edge.apim.port, APIM);
  assert.ok(Date.now() - again < 200, "count 1: only once");
});

test("fault drop: the hop closes the connection mid-handshake, and Front Door reports it", async () => {
  faults.add({ service: "edge", kind: "drop", match: "^frontDoor/westeurope ", count: 1 });
  const dropped = await handshake(fdPort("westeurope"), API);
  assert.equal(dropped.ok, false);
  assert.ok((await handshake(fdPort("westeurope"), API)).ok);
  faults.add({ service: "edge", kind: "drop", match: "^apim " });
  const answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 502);
  assert.equal(answer.headers["x-lab-error-info"], "OriginConnectionAborted");
});

test("fault rejectNextHop: a hop rejects the next hop's certificate with the given reason", async () => {
  faults.add({
    service: "edge",
    kind: "rejectNextHop",
    match: "^frontDoor/eastus apim",
    message: "pinned thumbprint mismatch",
  });
  let answer = await getByName(fdPort("eastus"), API, ca);
  assert.equal(answer.status, 502);
  assert.equal(answer.headers["x-lab-error-info"], "CertificateError");
  assert.equal(answer.headers["x-lab-error-detail"], "pinned thumbprint mismatch");
  assert.equal(
    (await getByName(fdPort("westeurope"), API, ca)).status,
    200,
    "other locations are unaffected",
  );
  faults.add({ service: "edge", kind: "rejectNextHop", match: "^apim " });
  answer = await getByName(fdPort("westeurope"), API, ca);
  assert.equal(answer.status, 500);
  assert.equal(answer.headers["x-lab-error-info"], "BackendConnectionFailure");
});

test("openssl s_client shows the served chain and curl gets the health document through the chain", async () => {
  const port = fdPort("westeurope");
  const sClient = run(
    "openssl",
    ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", API, "-showcerts"],
    {
      timeout: 10_000,
    },
  );
  sClient.child.stdin?.end(); // s_client reads the request from stdin; end it so it disconnects
  const { stdout } = await sClient;
  assert.match(stdout, new RegExp(`s:CN ?= ?${API.replace(/\./g, "\\.")}`));
  assert.match(stdout, /i:CN ?= ?e2e-cert-rotation lab root CA/);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout)![0];
  assert.equal(
    new X509Certificate(pem).fingerprint.replace(/:/g, ""),
    thumb(baseline().frontDoor.domains[0]!.certificate!),
  );
  assert.match(
    stdout,
    /Verify return code: 19|Verify return code: 20/,
    "openssl without -CAfile does not trust the lab root",
  );

  const curl = await run(
    "curl",
    ["-sS", "--resolve", `${API}:${port}:127.0.0.1`, "--cacert", pki.caCertPath, `https://${API}:${port}/`],
    { timeout: 10_000 },
  );
  const doc = JSON.parse(curl.stdout) as HealthDocument;
  assert.equal(doc.status, "Healthy");
  assert.deepEqual(
    doc.hops.map((h) => h.hop),
    ["frontdoor", "apim", "ingress"],
  );
});
