/**
 * HTTPS requests by host name to a given address (SNI and Host header are the host name), trusting
 * the given roots: "does a request through this hop succeed".
 */
import https from "node:https";
import type { ProbeTarget } from "./tlsProbe.js";
import { secureContextFor } from "./trust.js";

/** The answer to one request, or why there was none. */
export type HttpProbeResult = { ok: true; status: number } | { ok: false; error: string };

/** GET `https://host/path` at `target`. Never throws. */
export function httpsGet(
  host: string,
  target: ProbeTarget,
  options: { ca?: string[]; path?: string; timeoutMs?: number } = {},
): Promise<HttpProbeResult> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: target.address,
        port: target.port,
        servername: host,
        path: options.path ?? "/",
        method: "GET",
        headers: { host, "user-agent": "e2e-cert-rotation-probe" },
        ...(options.ca ? { secureContext: secureContextFor(options.ca) } : {}),
        agent: false,
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ ok: true, status: res.statusCode ?? 0 }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 10_000} ms`)));
    req.on("error", (e: NodeJS.ErrnoException) =>
      resolve({ ok: false, error: e.code ? `${e.code}: ${e.message}` : e.message }),
    );
    req.end();
  });
}
