/**
 * ingress-nginx: per Ingress host, serves the `kubernetes.io/tls` Secret named in the Ingress `tls`
 * section (re-read on every cluster change, so a Secret write shows within a second, as the
 * controller's dynamic certificates do). Unknown names, and hosts whose Secret is missing, get the
 * controller's default "Kubernetes Ingress Controller Fake Certificate" and a 404. With
 * `auth-tls-secret` (+ `auth-tls-verify-client`), the client certificate must be issued directly
 * (`auth-tls-verify-depth` 1) by a CA in that Secret's `ca.crt`, else nginx answers 400 "No required
 * SSL certificate was sent" or 400 "The SSL certificate error". Requests go on to the backend app
 * over plain HTTP with nginx's `ssl-client-*` headers.
 *
 * Faults (service "edge"): those of tlsHop.ts and timeline.ts with hop `ingress`.
 */
import { X509Certificate } from "node:crypto";
import type http from "node:http";
import type tls from "node:tls";
import { randomBytes } from "node:crypto";
import { CertificateTimeline } from "./timeline.js";
import { guarded, startTlsHop, servedCertificate, type TlsHop } from "./tlsHop.js";
import { forwardableHeaders, relay } from "./nextHop.js";
import { nginxError } from "./pages.js";
import { allCertificates, distinguishedName, type PreparedCertificate } from "./certs.js";
import { clientIp, forwardedFor, requestHost, type HopRuntime } from "./runtime.js";
import type { IngressHostView, IngressView } from "./view.js";

export const INGRESS_HOP = "ingress";

export class IngressController {
  readonly timeline: CertificateTimeline;
  private hosts = new Map<string, IngressHostView>();
  private hop!: TlsHop;

  private constructor(
    private readonly rt: HopRuntime,
    private readonly backendPort: () => number,
  ) {
    this.timeline = new CertificateTimeline(rt.clock, rt.faults, rt.wrongCertificate, rt.log);
  }

  static async start(
    rt: HopRuntime,
    options: { port?: number; fakeCertificate: PreparedCertificate; backendPort: () => number },
  ): Promise<IngressController> {
    const ingress = new IngressController(rt, options.backendPort);
    ingress.hop = await startTlsHop({
      name: INGRESS_HOP,
      port: options.port ?? 0,
      faults: rt.faults,
      select: (host) => ingress.timeline.serve(INGRESS_HOP, host, 0),
      fallback: options.fakeCertificate,
      requestClientCertificate: true,
      handler: (req, res) => guarded(res, rt.log, () => ingress.handle(req, res)),
      log: rt.log,
    });
    return ingress;
  }

  get port(): number {
    return this.hop.port;
  }

  apply(view: IngressView, initial = false): void {
    this.timeline.noteFaults();
    this.hosts = new Map(view.hosts.map((h) => [h.hostName.toLowerCase(), h]));
    for (const h of view.hosts) this.timeline.update(h.hostName, h.certificate, { initial });
    this.timeline.retain(this.hosts.keys());
  }

  hostNames(): string[] {
    return [...this.hosts.keys()];
  }

  describeHost(host: string): Record<string, unknown> | undefined {
    const h = this.hosts.get(host);
    if (!h) return undefined;
    return {
      clientAuth: h.clientAuth
        ? {
            verify: h.clientAuth.verify,
            caSubjects: allCertificates(h.clientAuth.caPem ?? "").map((c) => distinguishedName(c.subject)),
          }
        : undefined,
    };
  }

  close(): Promise<void> {
    return this.hop.close();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const socket = req.socket as tls.TLSSocket;
    const host = requestHost(req, socket.servername || undefined);
    const view = this.hosts.get(host);
    if (!view) {
      nginxError(res, { status: 404, statusText: "Not Found", detail: `No Ingress rule for host ${host}.` });
      return;
    }
    const client = this.checkClient(socket, view);
    if (client.reject) {
      nginxError(res, {
        status: 400,
        statusText: "Bad Request",
        title: `400 ${client.reject}`,
        detail: client.detail,
      });
      return;
    }
    const served = servedCertificate(socket);
    const requestId = randomBytes(16).toString("hex");
    const headers: Record<string, string | string[]> = {
      ...forwardableHeaders(req.headers),
      "x-request-id": requestId,
      "x-real-ip": clientIp(req),
      "x-forwarded-for": forwardedFor(req),
      "x-forwarded-host": host,
      "x-forwarded-port": "443",
      "x-forwarded-proto": "https",
      "x-forwarded-scheme": "https",
      "x-scheme": "https",
      "x-lab-hop-ingress": JSON.stringify({
        host,
        served: served?.thumbprint,
        clientVerify: client.verify,
        clientSubject: client.subject,
      }),
    };
    if (view.clientAuth && view.clientAuth.verify !== "off") {
      headers["ssl-client-verify"] = client.verify;
      if (client.subject) headers["ssl-client-subject-dn"] = client.subject;
      if (client.issuer) headers["ssl-client-issuer-dn"] = client.issuer;
      if (view.clientAuth.passCertificateToUpstream && client.pem)
        headers["ssl-client-cert"] = encodeURIComponent(client.pem);
    }
    try {
      await relay({ req, res, port: this.backendPort(), hostHeader: host, headers });
    } catch (error) {
      nginxError(res, { status: 502, statusText: "Bad Gateway", detail: (error as Error).message });
    }
  }

  private checkClient(
    socket: tls.TLSSocket,
    view: IngressHostView,
  ): { verify: string; subject?: string; issuer?: string; pem?: string; reject?: string; detail?: string } {
    const auth = view.clientAuth;
    const peer = socket.getPeerX509Certificate();
    const facts = peer
      ? {
          subject: distinguishedName(peer.subject),
          issuer: distinguishedName(peer.issuer),
          pem: peer.toString(),
        }
      : {};
    if (!auth || auth.verify === "off") return { verify: "NONE", ...facts };
    if (!peer) {
      return auth.verify === "on"
        ? {
            verify: "NONE",
            reject: "No required SSL certificate was sent",
            detail: "The client sent no certificate.",
          }
        : { verify: "NONE" };
    }
    const problem = verifyClientCertificate(peer, auth.caPem ?? "", this.rt.clock.now());
    if (!problem) return { verify: "SUCCESS", ...facts };
    if (auth.verify === "optional_no_ca") return { verify: `FAILED:${problem}`, ...facts };
    return {
      verify: `FAILED:${problem}`,
      ...facts,
      reject: "The SSL certificate error",
      detail: `Client certificate: ${problem}.`,
    };
  }
}

/** nginx's client verification with depth 1: issued and signed by a CA in `caPem`, valid now. Returns a problem or undefined. */
export function verifyClientCertificate(peer: X509Certificate, caPem: string, now: Date): string | undefined {
  const cas = allCertificates(caPem);
  if (cas.length === 0) return "no CA certificates to verify against (ca.crt missing or empty)";
  const issuer = cas.find((ca) => peer.checkIssued(ca) && peer.verify(ca.publicKey));
  if (!issuer) return "unable to get local issuer certificate";
  if (now.getTime() > Date.parse(peer.validTo)) return "certificate has expired";
  if (now.getTime() < Date.parse(peer.validFrom)) return "certificate is not yet valid";
  return undefined;
}
