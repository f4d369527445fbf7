/**
 * Handshakes and HTTPS requests judge the chain against exactly the trusted roots they are given,
 * through one secure context per roots array: a server whose CA is among the roots is trusted, the
 * same server against the public roots only is not, and a roots array reused is one context.
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { rootCertificates } from "node:tls";
import { after, before, test } from "node:test";
import { createCertificateAuthority, issueCertificate } from "../../../emulator/lab/core/pki.js";
import { httpsGet } from "../../../src/probe/httpProbe.js";
import { handshake } from "../../../src/probe/tlsProbe.js";
import { secureContextFor } from "../../../src/probe/trust.js";

const HOST = "probe.contoso.test";
let server: https.Server;
let port = 0;
let caPem = "";

before(async () => {
  const ca = await createCertificateAuthority("Probe Trust Test CA", 1);
  caPem = ca.certPem;
  const leaf = await issueCertificate(ca, { subject: `CN=${HOST}`, names: [HOST] });
  server = https.createServer({ cert: leaf.chainPem, key: leaf.keyPem }, (_req, res) => res.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test("a chain to one of the given roots is valid; the same chain against the public roots is not", async () => {
  const target = { address: "127.0.0.1", port };
  const withLab = [caPem, ...rootCertificates];
  const trusted = await handshake(HOST, target, { ca: withLab });
  assert.equal(trusted.ok && trusted.chainValid && trusted.nameValid, true, JSON.stringify(trusted));
  const publicOnly = [...rootCertificates];
  const untrusted = await handshake(HOST, target, { ca: publicOnly });
  assert.equal(untrusted.ok, true);
  if (untrusted.ok) {
    assert.equal(untrusted.chainValid, false);
    assert.match(untrusted.problem ?? "", /chain/);
  }
  assert.deepEqual(await httpsGet(HOST, target, { ca: withLab }), { ok: true, status: 200 });
  const refused = await httpsGet(HOST, target, { ca: publicOnly });
  assert.equal(refused.ok, false, JSON.stringify(refused));
});

test("one secure context per roots array", () => {
  const roots = [caPem];
  assert.equal(secureContextFor(roots), secureContextFor(roots));
  assert.notEqual(secureContextFor(roots), secureContextFor([caPem]));
});
