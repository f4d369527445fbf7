/**
 * The backend app behind the ingress: plain HTTP on 127.0.0.1, answering every request with a JSON
 * health document that tells which hops the request came through (each hop adds an `x-lab-hop-<hop>`
 * header with the host it served and the certificate thumbprints it served and saw) and the client
 * certificate the ingress verified (`ssl-client-*` headers).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { LabClock } from "../core/clock.js";

/** The order hops appear in the health document. */
const HOP_ORDER = ["frontdoor", "apim", "ingress"];

/** The health document the backend answers with. */
export interface HealthDocument {
  status: "Healthy";
  service: "backend";
  time: string;
  method: string;
  host: string;
  path: string;
  /** Hops in the order the request went through them, as each described itself. */
  hops: Array<{ hop: string } & Record<string, unknown>>;
  clientCertificate?: { verify?: string; subject?: string; issuer?: string };
  forwardedFor?: string;
  requestId?: string;
}

export interface BackendApp {
  port: number;
  close(): Promise<void>;
}

export async function startBackend(clock: LabClock, port = 0): Promise<BackendApp> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const doc = healthDocument(req, clock.now());
      const body = Buffer.from(JSON.stringify(doc, null, 2));
      res.writeHead(200, {
        "content-type": "application/json; charset=utf-8",
        "content-length": String(body.length),
      });
      res.end(body);
    });
  });
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function healthDocument(req: http.IncomingMessage, now: Date): HealthDocument {
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(", ") : v;
  };
  const hops: HealthDocument["hops"] = [];
  for (const hop of HOP_ORDER) {
    const raw = header(`x-lab-hop-${hop}`);
    if (!raw) continue;
    try {
      hops.push({ hop, ...(JSON.parse(raw) as Record<string, unknown>) });
    } catch {
      hops.push({ hop, raw });
    }
  }
  const verify = header("ssl-client-verify");
  return {
    status: "Healthy",
    service: "backend",
    time: now.toISOString(),
    method: req.method ?? "GET",
    host: (header("host") ?? "").replace(/:\d+$/, ""),
    path: req.url ?? "/",
    hops,
    ...(verify
      ? {
          clientCertificate: {
            verify,
            subject: header("ssl-client-subject-dn"),
            issuer: header("ssl-client-issuer-dn"),
          },
        }
      : {}),
    forwardedFor: header("x-forwarded-for"),
    requestId: header("x-request-id"),
  };
}
