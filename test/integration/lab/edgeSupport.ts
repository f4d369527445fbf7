/**
 * Helpers for the edge tests: real TLS handshakes (which leaf does a hop serve for an SNI name) and
 * HTTPS requests by host name to a 127.0.0.1 port, trusting a given CA, plus polling with a deadline.
 */
import https from "node:https";
import tls from "node:tls";
import type { HealthDocument } from "../../../emulator/lab/edge/backend.js";

/** The served leaf's SHA-1 thumbprint (upper-case hex, no separators), or the handshake error. */
export type HandshakeResult =
  | { ok: true; thumbprint: string; subject: string; authorized: boolean; authorizationError?: string }
  | { ok: false; error: string; code?: string };

export function handshake(
  port: number,
  servername: string | undefined,
  options: { ca?: string; timeoutMs?: number } = {},
): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      ...(servername ? { servername } : {}),
      ca: options.ca ? [options.ca] : undefined,
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, error: "timeout", code: "ETIMEDOUT" });
    }, options.timeoutMs ?? 5_000);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const cert = socket.getPeerX509Certificate();
      const result: HandshakeResult = cert
        ? {
            ok: true,
            thumbprint: cert.fingerprint.replace(/:/g, ""),
            subject: cert.subject,
            authorized: socket.authorized,
            authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
          }
        : { ok: false, error: "no certificate" };
      socket.end();
      resolve(result);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, error: error.message, code: error.code });
    });
  });
}

/** Thumbprint served by `port` for `servername`, or undefined when the handshake fails. */
export async function servedThumbprint(port: number, servername: string): Promise<string | undefined> {
  const r = await handshake(port, servername);
  return r.ok ? r.thumbprint : undefined;
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The body parsed as JSON, undefined when it is not JSON (`healthOf` reads the backend's document). */
  json?: unknown;
}

/** The backend's health document an answer carries, if it carries one (an answer that passed every hop). */
export function healthDocumentIn(answer: HttpsAnswer): HealthDocument | undefined {
  const doc = answer.json;
  return typeof doc === "object" && doc !== null && Array.isArray((doc as { hops?: unknown }).hops)
    ? (doc as HealthDocument)
    : undefined;
}

/** The backend's health document of an answer that must carry one. */
export function healthOf(answer: HttpsAnswer): HealthDocument {
  const doc = healthDocumentIn(answer);
  if (!doc) throw new Error(`Not a health document (${answer.status}): ${answer.body.slice(0, 300)}`);
  return doc;
}

/** GET https://<host>:<port><path> connecting to 127.0.0.1, validating with `ca` and the host name. */
export function getByName(port: number, host: string, ca: string, path = "/"): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port, servername: host, path, headers: { host }, ca: [ca], agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Polls `probe` until `accept` holds or the deadline passes; returns the last value and when it held (`at`, epoch ms). */
export async function pollUntil<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  deadlineMs: number,
  intervalMs = 10,
): Promise<{ value: T; ok: boolean; atMs: number; at: number }> {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    const at = Date.now();
    if (accept(value)) return { value, ok: true, atMs: at - start, at };
    if (at - start > deadlineMs) return { value, ok: false, atMs: at - start, at };
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
