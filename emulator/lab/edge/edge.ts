/**
 * The lab data plane: Front Door edge locations → APIM gateway → ingress → backend app, each a
 * listener on 127.0.0.1, fed by deployment views (view.ts) that are re-read after every management
 * plane change. Name resolution between hops is the edge's own: a host name resolves to the hop that
 * hosts it (APIM proxy hostnames, then Ingress hosts, then Front Door domains).
 */
import type { LabClock } from "../core/clock.js";
import type { FaultRegistry } from "../core/faults.js";
import { createCertificateAuthority, issueCertificate, type LabPki } from "../core/pki.js";
import { ApimGateway } from "./apimGateway.js";
import { startBackend, type BackendApp } from "./backend.js";
import { prepare, type CertificateFacts, type PreparedCertificate } from "./certs.js";
import { FrontDoorEdge, type FrontDoorLocationOptions } from "./frontDoor.js";
import { IngressController } from "./ingress.js";
import type { HopRuntime } from "./runtime.js";
import type { EdgeSources } from "./view.js";

/** Default edge locations of `npm run lab` (tests pass their own, with delays in milliseconds). */
export const DEFAULT_LOCATIONS: FrontDoorLocationOptions[] = [
  { name: "westeurope", propagationDelayMs: 2_000, port: 8450 },
  { name: "eastus", propagationDelayMs: 6_000, port: 8451 },
];

/** Default ports of `npm run lab` for the other hops. */
export const DEFAULT_HOP_PORTS = { apim: 8452, ingress: 8453, backend: 8454 };

export interface EdgeOptions {
  clock: LabClock;
  faults: FaultRegistry;
  pki: LabPki;
  sources: EdgeSources;
  /** Front Door edge locations (at least one); default `DEFAULT_LOCATIONS`. */
  locations?: FrontDoorLocationOptions[];
  /** Ports of the other hops; 0 picks free ones. Default `DEFAULT_HOP_PORTS`. */
  ports?: { apim?: number; ingress?: number; backend?: number };
  /** Extra trusted roots (PEM) besides the lab CA. */
  extraTrust?: string[];
  log?: (message: string) => void;
}

export class Edge {
  private refreshing: Promise<void> | undefined;
  private again = false;

  private constructor(
    readonly frontDoor: FrontDoorEdge,
    readonly apim: ApimGateway,
    readonly ingress: IngressController,
    readonly backend: BackendApp,
    private readonly sources: EdgeSources,
    private readonly log: (message: string) => void,
  ) {}

  static async start(options: EdgeOptions): Promise<Edge> {
    const log = options.log ?? (() => {});
    const wrong = prepare({
      ...(await options.pki.issue({ subject: "CN=wrong.contoso.test", names: ["wrong.contoso.test"] })),
      source: "lab wrong certificate",
    });
    const fakeCa = await createCertificateAuthority("Kubernetes Ingress Controller Fake CA", 1);
    const fake = await issueCertificate(fakeCa, {
      subject: "CN=Kubernetes Ingress Controller Fake Certificate, O=Acme Co",
      names: ["ingress.local"],
      issuer: fakeCa,
    });
    const fakeCertificate = prepare({
      chainPem: fake.certPem,
      keyPem: fake.keyPem,
      source: "ingress-nginx default",
    });
    const built: { edge?: Edge } = {};
    const runtime: HopRuntime = {
      clock: options.clock,
      faults: options.faults,
      trust: [options.pki.root.certPem, ...(options.extraTrust ?? [])],
      resolve: (host) => built.edge?.resolve(host),
      wrongCertificate: () => wrong,
      log,
    };
    const ports = { ...DEFAULT_HOP_PORTS, ...(options.ports ?? {}) };
    const backend = await startBackend(options.clock, ports.backend);
    const frontDoor = await FrontDoorEdge.start(runtime, options.locations ?? DEFAULT_LOCATIONS);
    const apim = await ApimGateway.start(runtime, ports.apim);
    const ingress = await IngressController.start(runtime, {
      port: ports.ingress,
      fakeCertificate,
      backendPort: () => backend.port,
    });
    const edge = new Edge(frontDoor, apim, ingress, backend, options.sources, log);
    built.edge = edge;
    await edge.refresh(true);
    return edge;
  }

  /** The 127.0.0.1 port of the hop hosting `host`, as seen by another hop. */
  resolve(host: string): number | undefined {
    const h = host.toLowerCase();
    if (this.apim.hostNames().includes(h)) return this.apim.port;
    if (this.ingress.hostNames().includes(h)) return this.ingress.port;
    if (this.frontDoor.hostNames().includes(h))
      return this.frontDoor.port(this.frontDoor.locationNames()[0]!);
    return undefined;
  }

  /** Re-reads every view and applies it; concurrent calls coalesce. `initial`: no propagation delay. */
  refresh(initial = false): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        await this.refreshOnce(initial);
      } while (this.again);
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refreshOnce(initial: boolean): Promise<void> {
    const read = async <T>(name: string, source: { read(): T | Promise<T> }, apply: (v: T) => void) => {
      try {
        apply(await source.read());
      } catch (error) {
        this.log(`edge: could not read the ${name} view: ${(error as Error).message}`);
      }
    };
    await read("Front Door", this.sources.frontDoor, (v) => this.frontDoor.apply(v, initial));
    await read("APIM", this.sources.apim, (v) => this.apim.apply(v, initial));
    await read("ingress", this.sources.ingress, (v) => this.ingress.apply(v, initial));
  }

  /** `endpoints.json` `edge` section: host name → hop (and location) → 127.0.0.1:port. */
  endpoints(): Record<string, unknown> {
    const addr = (port: number | undefined) => `127.0.0.1:${port}`;
    const hosts: Record<string, Record<string, string>> = {};
    const add = (host: string, hop: string, port: number | undefined) => {
      (hosts[host] ??= {})[hop] = addr(port);
    };
    for (const host of this.frontDoor.hostNames())
      for (const location of this.frontDoor.locationNames())
        add(host, `frontDoor/${location}`, this.frontDoor.port(location));
    for (const host of this.apim.hostNames()) add(host, "apim", this.apim.port);
    for (const host of this.ingress.hostNames()) add(host, "ingress", this.ingress.port);
    return {
      hosts,
      frontDoor: Object.fromEntries(
        this.frontDoor
          .locationNames()
          .map((l) => [
            l,
            { address: addr(this.frontDoor.port(l)), propagationDelayMs: this.frontDoor.delay(l) },
          ]),
      ),
      apim: addr(this.apim.port),
      ingress: addr(this.ingress.port),
      backend: `http://${addr(this.backend.port)}`,
    };
  }

  /** What each hop serves now per host (ignoring faults), and what the management plane deployed. */
  describe(): Record<string, unknown> {
    const facts = (c: PreparedCertificate | undefined): CertificateFacts | undefined => c?.facts;
    const frontDoor: Record<string, unknown> = {};
    for (const host of this.frontDoor.hostNames()) {
      frontDoor[host] = {
        deployed: facts(this.frontDoor.timeline.latest(host)),
        locations: Object.fromEntries(
          this.frontDoor
            .locationNames()
            .map((l) => [
              l,
              facts(this.frontDoor.timeline.peek(host, this.frontDoor.delay(l)))?.thumbprint ?? null,
            ]),
        ),
      };
    }
    const simple = (timeline: { latest(h: string): PreparedCertificate | undefined }, names: string[]) =>
      Object.fromEntries(names.map((h) => [h, facts(timeline.latest(h))]));
    return {
      endpoints: this.endpoints(),
      frontDoor,
      apim: {
        hosts: simple(this.apim.timeline, this.apim.hostNames()),
        backend: this.apim.describeBackend(),
      },
      ingress: {
        hosts: Object.fromEntries(
          this.ingress
            .hostNames()
            .map((h) => [
              h,
              { certificate: facts(this.ingress.timeline.latest(h)), ...this.ingress.describeHost(h) },
            ]),
        ),
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([
      this.frontDoor.close(),
      this.apim.close(),
      this.ingress.close(),
      this.backend.close(),
    ]);
  }
}
