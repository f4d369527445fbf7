/**
 * A small webhook for the lab Event Grid tests: answers the validation handshake in both schemas
 * (unless told not to), records notifications parsed with @azure/eventgrid's EventGridDeserializer,
 * and fails on demand with a status per path.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { EventGridDeserializer, isSystemEvent } from "@azure/eventgrid";

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed events (EventGridEvent or CloudEvent objects from the SDK deserializer). */
  events: Array<Record<string, unknown>>;
  at: number;
}

export interface TestWebhook {
  url: string;
  received: Received[];
  handshakes: Array<{ path: string; method: string; headers: http.IncomingHttpHeaders }>;
  /** Status answered per path for notifications; a function gets the attempt number (1-based) on that path. */
  respond: Map<string, number | ((attempt: number) => number)>;
  /** Paths that answer the handshake wrongly. */
  refuseHandshake: Set<string>;
  close(): Promise<void>;
}

const deserializer = new EventGridDeserializer();

export async function startWebhook(): Promise<TestWebhook> {
  const received: Received[] = [];
  const handshakes: TestWebhook["handshakes"] = [];
  const respond: TestWebhook["respond"] = new Map();
  const refuseHandshake = new Set<string>();
  const attempts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const path = req.url ?? "/";
        const body = Buffer.concat(chunks).toString("utf8");
        if (req.method === "OPTIONS") {
          handshakes.push({ path, method: "OPTIONS", headers: req.headers });
          const origin = String(req.headers["webhook-request-origin"] ?? "");
          res.writeHead(200, refuseHandshake.has(path) ? {} : { "webhook-allowed-origin": origin });
          res.end();
          return;
        }
        if (req.headers["aeg-event-type"] === "SubscriptionValidation") {
          handshakes.push({ path, method: "POST", headers: req.headers });
          const [event] = await deserializer.deserializeEventGridEvents(body);
          if (event && isSystemEvent("Microsoft.EventGrid.SubscriptionValidationEvent", event)) {
            const code = refuseHandshake.has(path) ? "wrong" : event.data.validationCode;
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify({ validationResponse: code }));
            return;
          }
          res.writeHead(400);
          res.end();
          return;
        }
        const n = (attempts.get(path) ?? 0) + 1;
        attempts.set(path, n);
        const configured = respond.get(path) ?? 200;
        const status = typeof configured === "function" ? configured(n) : configured;
        const cloud = /cloudevents/.test(String(req.headers["content-type"]));
        const events = (cloud
          ? await deserializer.deserializeCloudEvents(body.trim().startsWith("[") ? body : `[${body}]`)
          : await deserializer.deserializeEventGridEvents(body)) as unknown as Array<Record<string, unknown>>;
        received.push({ path, headers: req.headers, events, at: Date.now() });
        res.writeHead(status);
        res.end();
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    handshakes,
    respond,
    refuseHandshake,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `check` until it returns a value (not undefined/false) or the deadline passes. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
