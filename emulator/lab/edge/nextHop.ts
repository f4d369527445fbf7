/**
 * The client side of a hop: connects to the next hop over TLS (SNI, optional client certificate),
 * validates what it presents the way the calling service does (chain against a trust store, validity
 * at the lab clock's time, host name), then relays one HTTP request over that connection.
 *
 * Validation runs on the completed handshake (Node's OpenSSL verdict plus the lab-clock validity
 * check and `tls.checkServerIdentity`), so a failure has a precise reason instead of a generic reset.
 */
import { X509Certificate } from "node:crypto";
import http from "node:http";
import tls from "node:tls";
import { certificateFacts, normalizeBundle, type CertificateFacts } from "./certs.js";
import type { TlsMaterial } from "./view.js";

/** Why the next hop could not be used. `kind` is stable; `code` is OpenSSL's or Node's code. */
export interface NextHopFailure {
  kind:
    | "nameMismatch"
    | "expired"
    | "notYetValid"
    | "untrusted"
    | "rejected"
    | "noCertificate"
    | "connectionRefused"
    | "handshakeFailed"
    | "connectionReset"
    | "timeout"
    | "unresolved";
  code: string;
  message: string;
  /** The certificate the next hop presented, when the handshake got that far. */
  peer?: CertificateFacts;
}

export interface NextHopOptions {
  /** 127.0.0.1 port of the next hop; undefined when the host name resolves to nothing in the lab. */
  port: number | undefined;
  /** SNI and the name the certificate must match. */
  hostName: string;
  /** Trusted root certificates (PEM), e.g. the lab CA. */
  trust: string[];
  validateChain: boolean;
  validateName: boolean;
  /** Lab-clock time for validity checks. */
  now: Date;
  clientCertificate?: TlsMaterial;
  timeoutMs?: number;
  /** A fault forcing rejection of the presented certificate (message shown as the reason). */
  forcedRejection?: string;
}

export type NextHopConnection =
  { ok: true; socket: tls.TLSSocket; peer: CertificateFacts } | { ok: false; failure: NextHopFailure };

/** Connects and validates; on success the caller owns the socket. */
export async function connectNextHop(options: NextHopOptions): Promise<NextHopConnection> {
  if (options.port === undefined) {
    return {
      ok: false,
      failure: {
        kind: "unresolved",
        code: "ENOTFOUND",
        message: `The host name ${options.hostName} does not resolve to any lab hop.`,
      },
    };
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  let socket: tls.TLSSocket;
  try {
    socket = tls.connect({
      host: "127.0.0.1",
      port: options.port,
      servername: options.hostName,
      ca: options.trust,
      rejectUnauthorized: false,
      // Node folds the host name check into `authorized`; keep that for chain problems only.
      checkServerIdentity: () => undefined,
      ALPNProtocols: ["http/1.1"],
      ...(options.clientCertificate
        ? { cert: normalizeBundle(options.clientCertificate.chainPem), key: options.clientCertificate.keyPem }
        : {}),
    });
  } catch (error) {
    return {
      ok: false,
      failure: {
        kind: "handshakeFailed",
        code: (error as NodeJS.ErrnoException).code ?? "ERR_TLS",
        message: `The client certificate for ${options.hostName} cannot be used: ${(error as Error).message}`,
      },
    };
  }
  // Errors after the handshake surface through the HTTP request that uses the socket.
  socket.on("error", () => {});
  const handshake = await new Promise<{ ok: true } | { ok: false; failure: NextHopFailure }>((resolve) => {
    const timer = setTimeout(() => {
      resolve({
        ok: false,
        failure: {
          kind: "timeout",
          code: "ETIMEDOUT",
          message: `The TLS handshake with ${options.hostName} did not finish within ${timeoutMs} ms.`,
        },
      });
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      resolve({ ok: true });
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, failure: connectFailure(error, options.hostName) });
    });
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({
        ok: false,
        failure: {
          kind: "connectionReset",
          code: "ECONNRESET",
          message: `${options.hostName} closed the connection during the TLS handshake.`,
        },
      });
    });
  });
  if (!handshake.ok) {
    socket.destroy();
    return handshake;
  }
  const failure = validatePeer(socket, options);
  if ("kind" in failure) {
    socket.destroy();
    return { ok: false, failure };
  }
  return { ok: true, socket, peer: failure.peer };
}

function connectFailure(error: NodeJS.ErrnoException, host: string): NextHopFailure {
  if (error.code === "ECONNREFUSED")
    return { kind: "connectionRefused", code: error.code, message: `${host} refused the connection.` };
  if (error.code === "ECONNRESET" || /disconnected before secure TLS/i.test(error.message))
    return {
      kind: "connectionReset",
      code: error.code ?? "ECONNRESET",
      message: `${host} closed the connection during the TLS handshake.`,
    };
  return {
    kind: "handshakeFailed",
    code: error.code ?? "ERR_SSL",
    message: `The TLS handshake with ${host} failed: ${error.message}`,
  };
}

function validatePeer(
  socket: tls.TLSSocket,
  options: NextHopOptions,
): NextHopFailure | { peer: CertificateFacts } {
  // One detailed read: after getPeerX509Certificate(), Node's getPeerCertificate() comes back empty.
  const detailed = socket.getPeerCertificate(true);
  if (!detailed?.raw) {
    return {
      kind: "noCertificate",
      code: "NO_PEER_CERTIFICATE",
      message: `${options.hostName} sent no certificate.`,
    };
  }
  const peer = certificateFacts(new X509Certificate(detailed.raw), `peer ${options.hostName}`);
  if (options.forcedRejection !== undefined) {
    return { kind: "rejected", code: "CERTIFICATE_REJECTED", message: options.forcedRejection, peer };
  }
  if (options.validateChain) {
    if (!socket.authorized) {
      const code = String(socket.authorizationError ?? "UNABLE_TO_VERIFY");
      return chainFailure(code, options.hostName, peer);
    }
    // OpenSSL checked validity at the real time; the lab clock may be ahead of it.
    const now = options.now.getTime();
    for (const cert of peerChain(detailed)) {
      if (now > Date.parse(cert.valid_to)) return chainFailure("CERT_HAS_EXPIRED", options.hostName, peer);
      if (now < Date.parse(cert.valid_from))
        return chainFailure("CERT_NOT_YET_VALID", options.hostName, peer);
    }
  }
  if (options.validateName) {
    const error = tls.checkServerIdentity(options.hostName, detailed);
    if (error) {
      return {
        kind: "nameMismatch",
        code: (error as NodeJS.ErrnoException).code ?? "ERR_TLS_CERT_ALTNAME_INVALID",
        message: `The certificate of ${options.hostName} does not match its name: ${error.message}`,
        peer,
      };
    }
  }
  return { peer };
}

function chainFailure(code: string, host: string, peer: CertificateFacts): NextHopFailure {
  if (code === "CERT_HAS_EXPIRED")
    return {
      kind: "expired",
      code,
      message: `The certificate of ${host} expired on ${peer.notAfter}.`,
      peer,
    };
  if (code === "CERT_NOT_YET_VALID")
    return {
      kind: "notYetValid",
      code,
      message: `The certificate of ${host} is not valid before ${peer.notBefore}.`,
      peer,
    };
  return {
    kind: "untrusted",
    code,
    message: `The certificate chain of ${host} is not trusted (${code}; issuer ${peer.issuer}).`,
    peer,
  };
}

function peerChain(leaf: tls.DetailedPeerCertificate): tls.PeerCertificate[] {
  const chain: tls.PeerCertificate[] = [];
  let cert: tls.DetailedPeerCertificate | undefined = leaf;
  const seen = new Set<string>();
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(cert);
    cert = cert.issuerCertificate;
  }
  return chain;
}

/** Headers that must not be relayed by a proxy (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "host",
]);

/** Request headers minus hop-by-hop ones. */
export function forwardableHeaders(headers: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/**
 * Sends `req` over `socket` (or a plain connection to `port`) with `headers`, and relays the answer
 * to `res`, adding `responseHeaders`. Resolves when the answer is relayed; rejects on upstream errors.
 */
export function relay(options: {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  socket?: tls.TLSSocket;
  port?: number;
  hostHeader: string;
  headers: Record<string, string | string[]>;
  responseHeaders?: Record<string, string>;
  timeoutMs?: number;
}): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = http.request({
      ...(options.socket
        ? { createConnection: () => options.socket! }
        : { host: "127.0.0.1", port: options.port, agent: false }),
      method: options.req.method,
      path: options.req.url,
      headers: { ...options.headers, host: options.hostHeader, connection: "close" },
      timeout: options.timeoutMs ?? 30_000,
    });
    upstream.on("timeout", () => upstream.destroy(new Error("The upstream did not answer in time.")));
    upstream.on("error", reject);
    upstream.on("response", (answer) => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(answer.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
      }
      options.res.writeHead(answer.statusCode ?? 502, { ...headers, ...(options.responseHeaders ?? {}) });
      answer.pipe(options.res);
      answer.on("end", () => resolve());
      answer.on("error", reject);
    });
    options.req.pipe(upstream);
  });
}
