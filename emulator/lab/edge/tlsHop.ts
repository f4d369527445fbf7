/**
 * A TLS listener on 127.0.0.1 that picks its certificate by SNI, as the real hops do, then hands the
 * decrypted connection to an HTTP/1.1 handler. Each accepted TCP connection gets its own server-side
 * TLSSocket, so a fault can act on one connection in the middle of its handshake.
 *
 * Faults (service "edge"; operation `"<hop> <sni host>"`, e.g. `"frontDoor/westeurope api.contoso.test"`):
 * - `handshakeDelay` (`latencyMs`): the hop waits that long after the ClientHello before answering.
 * - `drop`: the hop closes the TCP connection in the middle of the handshake (after the ClientHello).
 */
import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import type { FaultRegistry } from "../core/faults.js";
import type { CertificateFacts, PreparedCertificate } from "./certs.js";

export const EDGE_SERVICE = "edge";

export interface TlsHopOptions {
  /** `frontDoor/<location>`, `apim` or `ingress`: names the hop in fault operations and logs. */
  name: string;
  /** 0 picks a free port. */
  port: number;
  faults: FaultRegistry;
  /** The certificate for an SNI host name, or undefined when the hop has nothing for it. */
  select(servername: string): PreparedCertificate | undefined;
  /**
   * Served when the SNI names no known host (ingress-nginx's default fake certificate). Without it
   * such handshakes fail with a `handshake_failure` alert, as Front Door and APIM do for names they do
   * not host. Handshakes without SNI always fail: the default context must hold no certificate,
   * because OpenSSL keeps one certificate per key type and would keep offering the default one next
   * to an SNI-selected certificate of another key type.
   */
  fallback?: PreparedCertificate;
  /** Ask every client for a certificate (ingress-nginx with auth-tls); verification is the handler's. */
  requestClientCertificate?: boolean;
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  log?(message: string): void;
}

/** A running hop listener. */
export interface TlsHop {
  readonly name: string;
  readonly port: number;
  close(): Promise<void>;
}

const NO_CERTIFICATE = (): tls.SecureContext => tls.createSecureContext({});
const served = new WeakMap<tls.TLSSocket, CertificateFacts>();

/** The certificate a hop served on a connection (for headers and health documents). */
export function servedCertificate(socket: unknown): CertificateFacts | undefined {
  return socket instanceof tls.TLSSocket ? served.get(socket) : undefined;
}

/** Starts a hop listener on 127.0.0.1. */
export async function startTlsHop(options: TlsHopOptions): Promise<TlsHop> {
  const sockets = new Set<net.Socket>();
  const httpServer = http.createServer({ keepAliveTimeout: 2_000 }, options.handler);
  const defaultContext = NO_CERTIFICATE();

  const server = net.createServer((raw) => {
    sockets.add(raw);
    raw.on("close", () => sockets.delete(raw));
    raw.on("error", () => raw.destroy());
    const socket = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: defaultContext,
      requestCert: options.requestClientCertificate ?? false,
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
      SNICallback: (servername, done) => {
        void sniSelect(servername).then(
          (context) => done(null, context),
          () => done(null, undefined),
        );
      },
    });
    socket.on("error", () => socket.destroy());
    socket.on("secure", () => httpServer.emit("connection", socket));

    async function sniSelect(servername: string): Promise<tls.SecureContext | undefined> {
      const operation = `${options.name} ${servername.toLowerCase()}`;
      const delay = options.faults.take(EDGE_SERVICE, operation, "handshakeDelay");
      if (delay?.latencyMs) await new Promise((r) => setTimeout(r, delay.latencyMs));
      if (options.faults.take(EDGE_SERVICE, operation, "drop")) {
        raw.destroy();
        return undefined;
      }
      const chosen = options.select(servername.toLowerCase()) ?? options.fallback;
      if (chosen) served.set(socket, chosen.facts);
      return chosen?.context;
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    name: options.name,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        httpServer.close();
        server.close(() => resolve());
      }),
  };
}

/** Runs a hop's request handler; an unexpected error answers 502 (or closes the connection) instead of crashing the lab. */
export function guarded(
  res: http.ServerResponse,
  log: (m: string) => void,
  handle: () => Promise<void>,
): void {
  handle().catch((error: unknown) => {
    log(`edge: request failed: ${(error as Error).message}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(502, {
      "content-type": "text/plain; charset=utf-8",
      "x-lab-error-info": "LabInternalError",
    });
    res.end(`The lab hop failed: ${(error as Error).message}\n`);
  });
}
