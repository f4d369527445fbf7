/**
 * TLS handshakes as a client sees them: connect to an address with the host name as SNI, validate
 * the chain against the trusted roots and the name against the certificate (RFC 6125, as Node
 * does), and report the SHA-1 thumbprint of the leaf served.
 */
import tls from "node:tls";
import { secureContextFor } from "./trust.js";

/** Where to connect for a host name: the configured overrides (lab), else the name itself on 443. */
export interface ProbeTarget {
  address: string;
  port: number;
}

/** The result of one handshake. */
export type HandshakeResult =
  | {
      ok: true;
      /** SHA-1 of the leaf, upper-case hex. */
      thumbprint: string;
      subject: string;
      /** Chain valid against the trusted roots. */
      chainValid: boolean;
      /** The leaf's names cover the host. */
      nameValid: boolean;
      /** Why chain or name validation failed. */
      problem?: string;
    }
  | { ok: false; error: string };

/** Options of {@link handshake}; defaults stated. */
export interface HandshakeOptions {
  /** Trusted roots (PEM). Default: Node's default trust. */
  ca?: string[];
  /** Default 5000 ms. */
  timeoutMs?: number;
}

/** One TLS handshake with `host` as SNI at `target`. Never throws. */
export function handshake(
  host: string,
  target: ProbeTarget,
  options: HandshakeOptions = {},
): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: HandshakeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const socket = tls.connect({
      host: target.address,
      port: target.port,
      servername: host,
      ...(options.ca ? { secureContext: secureContextFor(options.ca) } : {}),
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    const timer = setTimeout(
      () => finish({ ok: false, error: `no handshake within ${options.timeoutMs ?? 5000} ms` }),
      options.timeoutMs ?? 5000,
    );
    socket.once("secureConnect", () => {
      const peer = socket.getPeerCertificate();
      const x509 = socket.getPeerX509Certificate();
      if (!x509 || !peer || !peer.raw)
        return finish({ ok: false, error: "the server presented no certificate" });
      const nameError = tls.checkServerIdentity(host, peer);
      const chainValid = socket.authorized;
      const problems = [
        ...(chainValid ? [] : [`chain: ${String(socket.authorizationError ?? "not trusted")}`]),
        ...(nameError ? [`name: ${nameError.message}`] : []),
      ];
      finish({
        ok: true,
        thumbprint: x509.fingerprint.replace(/:/g, "").toUpperCase(),
        subject: x509.subject.replace(/\n/g, ", "),
        chainValid,
        nameValid: !nameError,
        ...(problems.length ? { problem: problems.join("; ") } : {}),
      });
    });
    socket.once("error", (e: NodeJS.ErrnoException) =>
      finish({ ok: false, error: e.code ? `${e.code}: ${e.message}` : e.message }),
    );
  });
}
