/**
 * Activity `probeEndpoints`: real TLS handshakes for a stage's probes — every address a host is
 * served from (e.g. each Front Door edge location) must present a valid chain for the name and,
 * for `serves` probes, the expected leaf — plus, for `accepts` probes and `endToEnd`, HTTPS requests.
 * A `serves` probe with no expected leaf is never reported as verified (see {@link ServesJudgement}).
 *
 * Where a probe connects (see {@link probeTargetsOf}): its binding's probe addresses when it has
 * some, else the host name resolved; SNI, the Host header and name validation are always the host
 * name, so a hop behind another one that serves the same public name is still probed itself.
 */
import { isIP } from "node:net";
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition, type Composition } from "../composition.js";
import { normaliseThumbprint } from "../domain/x509.js";
import type { ProbeSpec } from "../domain/bindings.js";
import type { ProbeEvidence } from "../domain/rollback.js";
import { httpsGet } from "../probe/httpProbe.js";
import { handshake, type ProbeTarget } from "../probe/tlsProbe.js";
import type { ProbeEndpointsInput, ProbeEndpointsOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/**
 * Where a name is reached: an IP address as it is; a host name through `PROBE_HOST_OVERRIDES` (the
 * lab's stand-in for DNS, which gives the lab listener's port too), else by DNS at `port`.
 */
function resolveName(c: Composition, name: string, port: number): ProbeTarget[] {
  if (isIP(name)) return [{ address: name, port }];
  const o = c.config.probes.hostOverrides.get(name.toLowerCase().replace(/\.$/, ""));
  return o && o.length ? [...o] : [{ address: name, port }];
}

const unique = (ts: ProbeTarget[]): ProbeTarget[] => [
  ...new Map(ts.map((t) => [`${t.address.toLowerCase()}|${t.port}`, t])).values(),
];

/** The addresses a host name is served from: `PROBE_HOST_OVERRIDES`, else DNS on port 443. */
export function targetsOf(c: Composition, host: string): ProbeTarget[] {
  return resolveName(c, host, 443);
}

/**
 * Where a probe connects, first match wins:
 * 1. the bindings file's `probeAddresses` of its binding;
 * 2. `PROBE_HOST_OVERRIDES` for the host name (lab only: where the lab serves the name; it stands
 *    before discovered addresses, which in the lab are the services' emulated self-reports — an
 *    Ingress status of 127.0.0.1 without the lab's port);
 * 3. the addresses discovery found (Ingress load balancer, APIM gateway);
 * 4. the host name by DNS, port 443.
 * An address given as a host name is itself resolved (through `PROBE_HOST_OVERRIDES` in the lab).
 */
export function probeTargetsOf(
  c: Composition,
  probe: Pick<ProbeSpec, "hostName" | "connectTo">,
): ProbeTarget[] {
  const to = probe.connectTo;
  const via = (addresses: readonly { address: string; port: number }[]) =>
    unique(addresses.flatMap((a) => resolveName(c, a.address, a.port)));
  if (to?.source === "explicit" && to.addresses.length) return via(to.addresses);
  const o = c.config.probes.hostOverrides.get(probe.hostName.toLowerCase());
  if (o && o.length) return [...o];
  if (to?.addresses.length) return via(to.addresses);
  return targetsOf(c, probe.hostName);
}

const at = (t: ProbeTarget) => `${t.address}:${t.port}`;

/**
 * What a `serves` probe must see: `thumbprint` (the expected leaf); else, with `rejectThumbprint`,
 * any valid leaf but that one; else nothing can be verified. Absent: just observe (drift).
 */
export interface ServesJudgement {
  thumbprint?: string;
  rejectThumbprint?: string;
}

/** The verdict on a valid handshake of a `serves` probe. */
function judgeServed(served: string, judge: ServesJudgement | undefined): { ok: boolean; detail: string } {
  if (!judge) return { ok: true, detail: `serves ${served}` };
  if (judge.thumbprint) {
    const want = normaliseThumbprint(judge.thumbprint);
    return want === served
      ? { ok: true, detail: `serves ${served}` }
      : { ok: false, detail: `serves ${served}, expected ${want}` };
  }
  if (judge.rejectThumbprint) {
    const reject = normaliseThumbprint(judge.rejectThumbprint);
    return reject === served
      ? { ok: false, detail: `serves ${served}, which it must no longer serve` }
      : {
          ok: true,
          detail: `serves ${served}, not ${reject} (the expected leaf was not known, so only its absence was checked)`,
        };
  }
  return {
    ok: false,
    detail: `serves ${served}; unverifiable: no expected certificate was given, so this cannot count as verified`,
  };
}

/**
 * Probes one endpoint at every address; one evidence entry per address. `judge` decides `serves`
 * probes (see {@link ServesJudgement}); without it the probe only observes what is served.
 */
export async function probeOne(
  c: Composition,
  probe: ProbeSpec,
  roots: string[],
  judge?: ServesJudgement,
): Promise<ProbeEvidence[]> {
  const targets = probeTargetsOf(c, probe);
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
        const v = judgeServed(h.thumbprint, judge);
        return { ...base, at: now(), ok: v.ok, detail: `${at(t)}: ${v.detail}` };
      }
      const r = await httpsGet(probe.hostName, t, { ca: roots });
      return r.ok
        ? { ...base, at: now(), ok: r.status < 500, detail: `${at(t)}: HTTP ${r.status}` }
        : { ...base, at: now(), ok: false, detail: `${at(t)}: ${r.error}` };
    }),
  );
}

/**
 * The end-to-end request to `host` at every address: `GET <PROBE_END_TO_END_PATH>` through the whole
 * chain. Any answer below 500 passes (every TLS hop carried it; an API that answers `/` with 401 or
 * 404 is healthy), unless `PROBE_END_TO_END_REQUIRE_2XX` asks for a 2xx.
 */
async function endToEnd(c: Composition, host: string, roots: string[]): Promise<ProbeEvidence[]> {
  const { endToEndPath: path, endToEndRequire2xx: require2xx } = c.config.probes;
  const out: ProbeEvidence[] = [];
  for (const t of targetsOf(c, host)) {
    const r = await httpsGet(host, t, { ca: roots, path });
    const ok = r.ok && (require2xx ? r.status >= 200 && r.status < 300 : r.status < 500);
    out.push({
      hostName: host,
      expect: "accepts",
      at: c.now().toISOString(),
      ok,
      detail: `end to end GET ${path} via ${at(t)}: ${r.ok ? `HTTP ${r.status}` : r.error}${
        r.ok && !ok ? (require2xx ? " (a 2xx is required)" : " (a server error)") : ""
      }`,
    });
  }
  return out;
}

/** Probes a stage's endpoints. */
export async function probeEndpointsHandler(
  input: ProbeEndpointsInput,
  context: InvocationContext,
): Promise<ProbeEndpointsOutput> {
  const c = composition();
  const roots = await c.trustedRoots();
  const judge: ServesJudgement = {
    ...(input.expectThumbprint ? { thumbprint: input.expectThumbprint } : {}),
    ...(input.rejectThumbprint ? { rejectThumbprint: input.rejectThumbprint } : {}),
  };
  const evidence = (await Promise.all(input.probes.map((p) => probeOne(c, p, roots, judge)))).flat();
  if (input.endToEnd) {
    // Only the hosts this rollout is about: never every domain of a shared profile.
    const configured = c.config.probes.endToEndHosts;
    const given = input.endToEndHosts?.length
      ? input.endToEndHosts
      : configured.length
        ? configured
        : input.probes.map((p) => p.hostName);
    const hosts = [...new Map(given.map((h) => [h.toLowerCase(), h])).values()];
    for (const host of hosts) evidence.push(...(await endToEnd(c, host, roots)));
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
