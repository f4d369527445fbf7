/**
 * Front Door edge: one TLS listener per edge location. Each location serves, per custom domain, the
 * certificate of the secret version bound to it once the deployment finished, after its own
 * propagation delay, so locations flip at different times. Requests are forwarded over HTTPS to the
 * route's origin, validating the origin certificate chain against the trust store and, unless the
 * origin disables it, the origin host name; a failure answers 502 with Front Door's error page and
 * the access-log `ErrorInfo` token (`CertificateNameCheckFailed`, `CertificateError`, …).
 *
 * Faults (service "edge"): those of tlsHop.ts and timeline.ts with hop `frontDoor/<location>`, and
 * `rejectNextHop` with operation `"frontDoor/<location> <origin host>"`: the location rejects the
 * origin's certificate (`message` is the reason).
 */
import type http from "node:http";
import type tls from "node:tls";
import { CertificateTimeline } from "./timeline.js";
import { guarded, startTlsHop, servedCertificate, EDGE_SERVICE, type TlsHop } from "./tlsHop.js";
import { connectNextHop, forwardableHeaders, relay } from "./nextHop.js";
import { azureRef, frontDoorError, frontDoorErrorInfo, frontDoorNotFound } from "./pages.js";
import { clientIp, forwardedFor, requestHost, type HopRuntime } from "./runtime.js";
import type { FrontDoorDomainView, FrontDoorView } from "./view.js";

export interface FrontDoorLocationOptions {
  /** E.g. `westeurope`. */
  name: string;
  /** How long after a deployment finished this location starts serving its certificate. */
  propagationDelayMs: number;
  /** 0 (default) picks a free port. */
  port?: number;
}

interface Location {
  name: string;
  delayMs: number;
  hop: TlsHop;
}

export class FrontDoorEdge {
  readonly timeline: CertificateTimeline;
  private readonly domains = new Map<string, FrontDoorDomainView>();
  private readonly locations = new Map<string, Location>();

  private constructor(private readonly rt: HopRuntime) {
    this.timeline = new CertificateTimeline(rt.clock, rt.faults, rt.wrongCertificate, rt.log);
  }

  static async start(rt: HopRuntime, locations: FrontDoorLocationOptions[]): Promise<FrontDoorEdge> {
    if (locations.length === 0) throw new Error("Front Door needs at least one edge location.");
    const edge = new FrontDoorEdge(rt);
    for (const location of locations) {
      const name = `frontDoor/${location.name}`;
      const hop = await startTlsHop({
        name,
        port: location.port ?? 0,
        faults: rt.faults,
        select: (host) => edge.timeline.serve(name, host, edge.delay(location.name)),
        handler: (req, res) => guarded(res, rt.log, () => edge.handle(location.name, req, res)),
        log: rt.log,
      });
      edge.locations.set(location.name, { name: location.name, delayMs: location.propagationDelayMs, hop });
    }
    return edge;
  }

  /** Applies what the profile has deployed now. `initial`: treat it as propagated long ago. */
  apply(view: FrontDoorView, initial = false): void {
    this.timeline.noteFaults();
    this.domains.clear();
    for (const domain of view.domains) {
      const host = domain.hostName.toLowerCase();
      this.domains.set(host, domain);
      this.timeline.update(host, domain.certificate, { deployedAt: domain.deployedAt, initial });
    }
    this.timeline.retain(this.domains.keys());
  }

  hostNames(): string[] {
    return [...this.domains.keys()];
  }

  locationNames(): string[] {
    return [...this.locations.keys()];
  }

  port(location: string): number | undefined {
    return this.locations.get(location)?.hop.port;
  }

  delay(location: string): number {
    return this.locations.get(location)?.delayMs ?? 0;
  }

  setDelay(location: string, delayMs: number): boolean {
    const l = this.locations.get(location);
    if (!l) return false;
    l.delayMs = delayMs;
    return true;
  }

  async close(): Promise<void> {
    await Promise.all([...this.locations.values()].map((l) => l.hop.close()));
  }

  private async handle(location: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const ref = azureRef();
    const sni = (req.socket as tls.TLSSocket).servername || undefined;
    const host = requestHost(req, sni);
    const domain = this.domains.get(host);
    if (!domain?.origin) {
      frontDoorNotFound(res, ref, location);
      return;
    }
    const origin = domain.origin;
    const originHost = (origin.originHostHeader ?? origin.hostName).toLowerCase();
    const hopName = `frontDoor/${location}`;
    const forced = this.rt.faults.take(EDGE_SERVICE, `${hopName} ${originHost}`, "rejectNextHop");
    const connection = await connectNextHop({
      port: this.rt.resolve(origin.hostName),
      hostName: originHost,
      trust: this.rt.trust,
      validateChain: true,
      validateName: origin.enforceCertificateNameCheck,
      now: this.rt.clock.now(),
      forcedRejection: forced
        ? (forced.message ?? "The origin certificate was rejected (injected fault).")
        : undefined,
    });
    if (!connection.ok) {
      frontDoorError(res, {
        status: 502,
        ref,
        location,
        errorInfo: frontDoorErrorInfo(connection.failure),
        failure: connection.failure,
      });
      return;
    }
    const served = servedCertificate(req.socket);
    const headers = {
      ...forwardableHeaders(req.headers),
      "x-forwarded-for": forwardedFor(req),
      "x-forwarded-host": host,
      "x-forwarded-proto": "https",
      "x-azure-clientip": clientIp(req),
      "x-azure-socketip": clientIp(req),
      "x-azure-ref": ref,
      "x-azure-requestchain": "hops=1",
      "x-lab-hop-frontdoor": JSON.stringify({
        location,
        host,
        served: served?.thumbprint,
        origin: originHost,
        originCertificate: connection.peer.thumbprint,
      }),
    };
    try {
      await relay({
        req,
        res,
        socket: connection.socket,
        hostHeader: originHost,
        headers,
        responseHeaders: { "x-azure-ref": ref, "x-cache": "CONFIG_NOCACHE" },
      });
    } catch (error) {
      frontDoorError(res, {
        status: 502,
        ref,
        location,
        errorInfo: "OriginInvalidResponse",
        failure: { kind: "connectionReset", code: "ECONNRESET", message: (error as Error).message },
      });
    }
  }
}
