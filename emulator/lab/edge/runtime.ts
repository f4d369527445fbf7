/** What every hop of the edge shares: the clock, faults, trust store, name resolution and logging. */
import type http from "node:http";
import type { LabClock } from "../core/clock.js";
import type { FaultRegistry } from "../core/faults.js";
import type { PreparedCertificate } from "./certs.js";

export interface HopRuntime {
  clock: LabClock;
  faults: FaultRegistry;
  /** Root certificates the hops trust for the next hop (the lab CA, plus any configured). */
  trust: string[];
  /** 127.0.0.1 port serving `host` for a caller (the hop that hosts the name), if any. */
  resolve(host: string): number | undefined;
  /** A lab-CA certificate for `wrong.contoso.test`, for the `wrongCertificate` fault. */
  wrongCertificate: () => PreparedCertificate | undefined;
  log: (message: string) => void;
}

/** The host a request is for: the Host header without port, else the SNI name. */
export function requestHost(req: http.IncomingMessage, sni: string | undefined): string {
  const raw = req.headers.host ?? sni ?? "";
  return raw
    .replace(/:\d+$/, "")
    .replace(/^\[|\]$/g, "")
    .toLowerCase();
}

/** The client's address as a proxy reports it. */
export function clientIp(req: http.IncomingMessage): string {
  return (req.socket.remoteAddress ?? "127.0.0.1").replace(/^::ffff:/, "");
}

/** Appends to X-Forwarded-For. */
export function forwardedFor(req: http.IncomingMessage): string {
  const prior = req.headers["x-forwarded-for"];
  const ip = clientIp(req);
  return prior ? `${Array.isArray(prior) ? prior.join(", ") : prior}, ${ip}` : ip;
}
