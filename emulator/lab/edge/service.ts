/**
 * The lab data plane as a lab service ("edge"): starts the hops (edge.ts) fed from the management
 * plane's in-process APIs, re-reads them on every `resource.changed` (and on a short poll), writes the
 * `edge` section of endpoints.json, and offers control routes:
 *
 * - `GET  /lab/edge` — endpoints and what every hop and location serves now (public facts only).
 * - `PUT  /lab/edge/frontDoor/locations/{location}` `{propagationDelayMs}` — a location's delay.
 * - `POST /lab/edge/refresh` — re-read the management plane now.
 *
 * Fault kinds (service "edge", operation `"<hop> <host>"` with hop `frontDoor/<location>`, `apim` or
 * `ingress`): `neverPropagate`, `staleCertificate`, `wrongCertificate` (timeline.ts),
 * `handshakeDelay` (`latencyMs`), `drop` (tlsHop.ts), and `rejectNextHop` (operation
 * `"<hop> <next host>"`, `message` = reason; frontDoor.ts, apimGateway.ts).
 */
import { z } from "zod";
import type { LabContext, LabService } from "../core/lab.js";
import { BuiltInCertificates, registrySources } from "./adapters.js";
import { DEFAULT_HOP_PORTS, DEFAULT_LOCATIONS, Edge } from "./edge.js";
import type { FrontDoorLocationOptions } from "./frontDoor.js";
import { EDGE_SERVICE } from "./tlsHop.js";
import type { EdgeSources } from "./view.js";

export interface EdgeServiceOptions {
  /** Free ports for every hop (tests); otherwise 8450–8454. */
  ephemeralPorts?: boolean;
  /** Front Door edge locations; default westeurope (2 s) and eastus (6 s). */
  locations?: FrontDoorLocationOptions[];
  /** Views to serve instead of the registry adapters (tests of the hops alone). */
  sources?: EdgeSources;
  /** Poll interval besides change events, ms; default 500. */
  pollMs?: number;
}

const delaySchema = z.object({ propagationDelayMs: z.number().int().nonnegative() });

/** Registry key under which the running `Edge` is available to other in-process code (tests). */
export const EDGE_REGISTRY = EDGE_SERVICE;

export function edgeService(options: EdgeServiceOptions = {}): LabService {
  return {
    name: EDGE_SERVICE,
    async start(ctx: LabContext) {
      const ephemeral = options.ephemeralPorts ?? false;
      const locations = (options.locations ?? DEFAULT_LOCATIONS).map((l) =>
        ephemeral ? { ...l, port: 0 } : l,
      );
      const edge = await Edge.start({
        clock: ctx.clock,
        faults: ctx.faults,
        pki: ctx.pki,
        sources: options.sources ?? registrySources(ctx.registry, new BuiltInCertificates(ctx.pki), ctx.log),
        locations,
        ports: ephemeral ? { apim: 0, ingress: 0, backend: 0 } : DEFAULT_HOP_PORTS,
        log: ctx.log,
      });
      ctx.registry.set(EDGE_REGISTRY, edge);
      const unsubscribe = ctx.bus.on("resource.changed", () => void edge.refresh());
      const timer = setInterval(() => void edge.refresh(), options.pollMs ?? 500);
      timer.unref();
      ctx.onStop(async () => {
        clearInterval(timer);
        unsubscribe();
        await edge.close();
      });

      const r = ctx.servers.control.router;
      r.on("GET", "/lab/edge", () => ({ status: 200, body: edge.describe() }));
      r.on("POST", "/lab/edge/refresh", async () => {
        await edge.refresh();
        return { status: 200, body: edge.describe() };
      });
      r.on("PUT", "/lab/edge/frontDoor/locations/:location", (req) => {
        const parsed = delaySchema.safeParse(req.body);
        if (!parsed.success)
          return {
            status: 400,
            body: {
              error: { code: "BadRequest", message: "Body must be {propagationDelayMs: integer >= 0}." },
            },
          };
        if (!edge.frontDoor.setDelay(req.params.location!, parsed.data.propagationDelayMs))
          return {
            status: 404,
            body: {
              error: {
                code: "NotFound",
                message: `No edge location '${req.params.location}'; there are ${edge.frontDoor.locationNames().join(", ")}.`,
              },
            },
          };
        return { status: 200, body: { location: req.params.location, ...parsed.data } };
      });

      ctx.endpoints.edge = edge.endpoints();
      ctx.log(
        `edge: Front Door ${locations.map((l) => `${l.name}`).join(", ")}, APIM, ingress and backend started.`,
      );
    },
  };
}
