/**
 * APIM gateway: serves each proxy hostname's certificate as deployed by the last completed service
 * update, and forwards to the backend URL over TLS, presenting the backend's client certificate (the
 * `certificates` entity the backend references, resolved from Key Vault) and validating the backend
 * certificate chain and name when the backend's `tls` settings say so. A failure answers 500 with
 * APIM's error body and `BackendConnectionFailure` in the lab error headers, as APIM's trace does.
 *
 * Faults (service "edge"): those of tlsHop.ts and timeline.ts with hop `apim`, and `rejectNextHop`
 * with operation `"apim <backend host>"`.
 */
import type http from "node:http";
import type tls from "node:tls";
import { CertificateTimeline } from "./timeline.js";
import { guarded, startTlsHop, servedCertificate, EDGE_SERVICE, type TlsHop } from "./tlsHop.js";
import { connectNextHop, forwardableHeaders, relay } from "./nextHop.js";
import { apimError } from "./pages.js";
import { certificateFacts, firstCertificate } from "./certs.js";
import { forwardedFor, requestHost, type HopRuntime } from "./runtime.js";
import type { ApimBackendView, ApimView } from "./view.js";

export const APIM_HOP = "apim";

export class ApimGateway {
  readonly timeline: CertificateTimeline;
  private backend: ApimBackendView | undefined;
  private hostnames = new Set<string>();
  private hop!: TlsHop;

  private constructor(private readonly rt: HopRuntime) {
    this.timeline = new CertificateTimeline(rt.clock, rt.faults, rt.wrongCertificate, rt.log);
  }

  static async start(rt: HopRuntime, port = 0): Promise<ApimGateway> {
    const gateway = new ApimGateway(rt);
    gateway.hop = await startTlsHop({
      name: APIM_HOP,
      port,
      faults: rt.faults,
      select: (host) => gateway.timeline.serve(APIM_HOP, host, 0),
      handler: (req, res) => guarded(res, rt.log, () => gateway.handle(req, res)),
      log: rt.log,
    });
    return gateway;
  }

  get port(): number {
    return this.hop.port;
  }

  apply(view: ApimView, initial = false): void {
    this.timeline.noteFaults();
    this.hostnames = new Set(view.hostnames.map((h) => h.hostName.toLowerCase()));
    for (const h of view.hostnames) this.timeline.update(h.hostName, h.certificate, { initial });
    this.timeline.retain(this.hostnames);
    this.backend = view.backend;
  }

  hostNames(): string[] {
    return [...this.hostnames];
  }

  /** Public facts of the backend configuration (no key material). */
  describeBackend(): Record<string, unknown> | undefined {
    const b = this.backend;
    if (!b) return undefined;
    return {
      url: b.url,
      validateCertificateChain: b.validateCertificateChain,
      validateCertificateName: b.validateCertificateName,
      clientCertificate: b.clientCertificate
        ? certificateFacts(firstCertificate(b.clientCertificate.chainPem), b.clientCertificate.source)
        : undefined,
    };
  }

  close(): Promise<void> {
    return this.hop.close();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const sni = (req.socket as tls.TLSSocket).servername || undefined;
    const host = requestHost(req, sni);
    const backend = this.backend;
    if (!this.hostnames.has(host) || !backend) {
      apimError(res, {
        status: 404,
        message: "Resource not found",
        reason: "OperationNotFound",
        detail: `No API answers for ${host}${req.url ?? ""}.`,
      });
      return;
    }
    let target: URL;
    try {
      target = new URL(backend.url);
    } catch {
      apimError(res, {
        status: 500,
        message: "Internal server error",
        reason: "BackendConnectionFailure",
        detail: `The backend URL '${backend.url}' is not a valid URL.`,
      });
      return;
    }
    const nextHost = target.hostname.toLowerCase();
    const forced = this.rt.faults.take(EDGE_SERVICE, `${APIM_HOP} ${nextHost}`, "rejectNextHop");
    const connection = await connectNextHop({
      port: this.rt.resolve(nextHost),
      hostName: nextHost,
      trust: this.rt.trust,
      validateChain: backend.validateCertificateChain,
      validateName: backend.validateCertificateName,
      now: this.rt.clock.now(),
      clientCertificate: backend.clientCertificate,
      forcedRejection: forced
        ? (forced.message ?? "The backend certificate was rejected (injected fault).")
        : undefined,
    });
    if (!connection.ok) {
      apimError(res, {
        status: 500,
        message: "Internal server error",
        reason: "BackendConnectionFailure",
        code: connection.failure.code,
        detail:
          connection.failure.kind === "unresolved" ||
          connection.failure.kind === "connectionRefused" ||
          connection.failure.kind === "timeout"
            ? connection.failure.message
            : `The underlying connection was closed: Could not establish trust relationship for the SSL/TLS secure channel. ${connection.failure.message}`,
      });
      return;
    }
    const served = servedCertificate(req.socket);
    const basePath = target.pathname.replace(/\/$/, "");
    const path = `${basePath}${req.url ?? "/"}`;
    const headers = {
      ...forwardableHeaders(req.headers),
      "x-forwarded-for": forwardedFor(req),
      "x-lab-hop-apim": JSON.stringify({
        host,
        served: served?.thumbprint,
        backend: nextHost,
        backendCertificate: connection.peer.thumbprint,
        clientCertificate: backend.clientCertificate
          ? certificateFacts(firstCertificate(backend.clientCertificate.chainPem), "").thumbprint
          : undefined,
      }),
    };
    try {
      await relay({
        req: Object.assign(req, { url: path }),
        res,
        socket: connection.socket,
        hostHeader: target.host,
        headers,
      });
    } catch (error) {
      apimError(res, {
        status: 500,
        message: "Internal server error",
        reason: "BackendConnectionFailure",
        detail: (error as Error).message,
      });
    }
  }
}
