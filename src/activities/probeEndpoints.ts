/**
 * Activity `probeEndpoints`: real TLS handshakes for a stage's probes — every address a host is
 * served from (e.g. each Front Door edge location) must present a valid chain for the name and,
 * for `serves` probes, the expected leaf — plus, for `accepts` probes and `endToEnd`, HTTPS requests.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition, type Composition } from "../composition.js";
import { discoverFrontDoor, type DiscoveryResult } from "../discovery.js";
import { normaliseThumbprint } from "../domain/x509.js";
import type { ProbeSpec } from "../domain/bindings.js";
import type { ProbeEvidence } from "../domain/rollback.js";
import { httpsGet } from "../probe/httpProbe.js";
import { handshake, type ProbeTarget } from "../probe/tlsProbe.js";
import type { ProbeEndpointsInput, ProbeEndpointsOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** The addresses a host name is served from: `PROBE_HOST_OVERRIDES`, else DNS on port 443. */
export function targetsOf(c: Composition, host: string): ProbeTarget[] {
  const o = c.config.probes.hostOverrides.get(host.toLowerCase());
  return o && o.length ? [...o] : [{ address: host, port: 443 }];
}

const at = (t: ProbeTarget) => `${t.address}:${t.port}`;

/** Probes one endpoint at every address; one evidence entry per address. */
export async function probeOne(
  c: Composition,
  probe: ProbeSpec & { thumbprint?: string },
  roots: string[],
): Promise<ProbeEvidence[]> {
  const targets = targetsOf(c, probe.hostName);
  return Promise.all(
    targets.map(async (t): Promise<ProbeEvidence> => {
      const now = () => c.now().toISOString();
      const h = await handshake(probe.hostName, t, { ca: roots });
      if (!h.ok)
        return {
          hostName: probe.hostName,
          expect: probe.expect,
          at: now(),
          ok: false,
          detail: `${at(t)}: ${h.error}`,
        };
      const base = { hostName: probe.hostName, expect: probe.expect, servedThumbprint: h.thumbprint };
      if (!h.chainValid || !h.nameValid)
        return { ...base, at: now(), ok: false, detail: `${at(t)}: ${h.problem}` };
      if (probe.expect === "serves") {
        const want = probe.thumbprint ? normaliseThumbprint(probe.thumbprint) : undefined;
        const ok = !want || want === h.thumbprint;
        return {
          ...base,
          at: now(),
          ok,
          detail: ok
            ? `${at(t)}: serves ${h.thumbprint}`
            : `${at(t)}: serves ${h.thumbprint}, expected ${want}`,
        };
      }
      const r = await httpsGet(probe.hostName, t, { ca: roots });
      return r.ok
        ? { ...base, at: now(), ok: r.status < 500, detail: `${at(t)}: HTTP ${r.status}` }
        : { ...base, at: now(), ok: false, detail: `${at(t)}: ${r.error}` };
    }),
  );
}

let outermost: { hosts: string[]; until: number } | undefined;

/** Host names of the Front Door custom domains in scope (the outermost hop), cached for a minute. */
async function outermostHosts(c: Composition): Promise<string[]> {
  if (outermost && outermost.until > Date.now()) return outermost.hosts;
  const r: DiscoveryResult = { bindings: [], warnings: [], vaultResourceIds: new Map() };
  await discoverFrontDoor(c, undefined, r);
  const hosts = [
    ...new Set(
      r.bindings.flatMap((b) => (b.kind === "frontDoorSecret" ? b.customDomains.map((d) => d.hostName) : [])),
    ),
  ];
  outermost = { hosts, until: Date.now() + 60_000 };
  return hosts;
}

/** Probes a stage's endpoints. */
export async function probeEndpointsHandler(
  input: ProbeEndpointsInput,
  context: InvocationContext,
): Promise<ProbeEndpointsOutput> {
  const c = composition();
  const roots = await c.trustedRoots();
  const evidence = (
    await Promise.all(
      input.probes.map((p) =>
        probeOne(
          c,
          {
            ...p,
            ...(p.expect === "serves" && input.expectThumbprint
              ? { thumbprint: input.expectThumbprint }
              : {}),
          },
          roots,
        ),
      ),
    )
  ).flat();
  if (input.endToEnd) {
    const hosts = await outermostHosts(c).catch(() => [] as string[]);
    const through = hosts.length ? hosts : [...new Set(input.probes.map((p) => p.hostName))];
    for (const host of through) {
      for (const t of targetsOf(c, host)) {
        const r = await httpsGet(host, t, { ca: roots });
        const ok = r.ok && r.status >= 200 && r.status < 300;
        evidence.push({
          hostName: host,
          expect: "accepts",
          at: c.now().toISOString(),
          ok,
          detail: `end to end via ${at(t)}: ${r.ok ? `HTTP ${r.status}` : r.error}`,
        });
      }
    }
  }
  const ok = evidence.length > 0 ? evidence.every((e) => e.ok) : input.probes.length === 0;
  context.log(
    `probeEndpoints: ${input.stage} ${ok ? "ok" : "not yet"}: ${evidence.map((e) => `${e.hostName} ${e.ok ? "ok" : "fail"} (${e.detail})`).join("; ")}`,
  );
  return { evidence, ok };
}

/** The registered activity; orchestrators yield `probeEndpoints(input)`. */
export const probeEndpoints: TypedActivity<ProbeEndpointsInput, ProbeEndpointsOutput> = df.app.activity(
  "probeEndpoints",
  { handler: probeEndpointsHandler },
);
