/**
 * A small router and HTTPS server for lab services. Lab services mirror the wire: one handler per
 * REST resource and method, JSON in and out, and middleware for auth and injected faults.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";

export interface LabRequest {
  method: string;
  url: URL;
  /** URL path, percent-decoded per segment by the router into `params`. */
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  rawBody: Buffer;
  /** Parsed JSON body, when the body is JSON; undefined otherwise. */
  body: unknown;
  /** Set by auth middleware. */
  principal?: Principal;
  /** For streaming handlers (watch): write to it and return `STREAMED`. */
  res: ServerResponse;
  raw: IncomingMessage;
}

/** The caller, as read from a validated bearer token. */
export interface Principal {
  objectId: string;
  clientId: string;
  tenantId: string;
  name?: string;
  audience: string;
}

export interface LabResponse {
  status: number;
  headers?: Record<string, string | string[]>;
  /** Objects are sent as JSON; strings and Buffers as they are. */
  body?: unknown;
}

/** Returned by a handler that wrote the response itself. */
export const STREAMED = Symbol("streamed");

export type Handler = (
  req: LabRequest,
) => Promise<LabResponse | typeof STREAMED> | LabResponse | typeof STREAMED;
export type Middleware = (
  req: LabRequest,
  next: () => Promise<LabResponse | typeof STREAMED>,
) => Promise<LabResponse | typeof STREAMED>;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

export interface RouterOptions {
  /** ARM paths are case-insensitive; Key Vault and Kubernetes paths are not. */
  caseInsensitive?: boolean;
  /** Answer for unmatched routes. */
  notFound?: (req: LabRequest) => LabResponse;
}

/**
 * Routes by method and path pattern: `:name` matches one segment, `*name` the rest of the path
 * (possibly empty). Trailing slashes are ignored, as Key Vault's `/certificates/{name}/` needs.
 */
export class Router {
  private readonly routes: Route[] = [];
  private readonly middleware: Middleware[] = [];
  constructor(private readonly options: RouterOptions = {}) {}

  use(mw: Middleware): this {
    this.middleware.push(mw);
    return this;
  }

  on(method: string | string[], pattern: string, handler: Handler): this {
    for (const m of Array.isArray(method) ? method : [method]) {
      this.routes.push({ method: m.toUpperCase(), segments: split(pattern), handler });
    }
    return this;
  }

  /** Finds a route; `methodMismatch` is true when the path matched but not the method. */
  match(
    method: string,
    path: string,
  ): { handler?: Handler; params: Record<string, string>; methodMismatch: boolean } {
    const parts = split(path);
    let methodMismatch = false;
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts, this.options.caseInsensitive ?? false);
      if (!params) continue;
      if (route.method !== method && route.method !== "*") {
        methodMismatch = true;
        continue;
      }
      return { handler: route.handler, params, methodMismatch: false };
    }
    return { params: {}, methodMismatch };
  }

  /** Node request listener. */
  readonly listener = (raw: IncomingMessage, res: ServerResponse): void => {
    void this.dispatch(raw, res);
  };

  private async dispatch(raw: IncomingMessage, res: ServerResponse): Promise<void> {
    let req: LabRequest | undefined;
    try {
      const rawBody = await readBody(raw);
      const url = new URL(raw.url ?? "/", `https://${raw.headers.host ?? "127.0.0.1"}`);
      const method = (raw.method ?? "GET").toUpperCase();
      const found = this.match(method, url.pathname);
      req = {
        method,
        url,
        path: url.pathname,
        params: found.params,
        query: url.searchParams,
        headers: raw.headers,
        rawBody,
        body: parseJson(raw.headers["content-type"], rawBody),
        res,
        raw,
      };
      const current = req;
      const final: Handler =
        found.handler ??
        (() =>
          this.options.notFound?.(current) ?? {
            status: found.methodMismatch ? 405 : 404,
            body: {
              error: {
                code: found.methodMismatch ? "MethodNotAllowed" : "NotFound",
                message: `No route for ${method} ${url.pathname}.`,
              },
            },
          });
      const chain = [...this.middleware];
      const run = async (i: number): Promise<LabResponse | typeof STREAMED> =>
        i < chain.length ? chain[i]!(current, () => run(i + 1)) : final(current);
      const out = await run(0);
      if (out !== STREAMED) send(res, out);
    } catch (error) {
      if (!res.headersSent) {
        send(res, {
          status: 500,
          body: {
            error: {
              code: "InternalServerError",
              message: error instanceof Error ? error.message : String(error),
            },
          },
        });
      } else {
        res.destroy();
      }
    }
  }
}

function split(path: string): string[] {
  return path.split("/").filter((s) => s.length > 0);
}

function matchSegments(pattern: string[], parts: string[], ci: boolean): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith("*")) {
      params[p.slice(1)] = parts.slice(i).map(decodeURIComponent).join("/");
      return params;
    }
    const part = parts[i];
    if (part === undefined) return undefined;
    if (p.startsWith(":")) {
      params[p.slice(1)] = decodeURIComponent(part);
    } else if (ci ? p.toLowerCase() !== part.toLowerCase() : p !== part) {
      return undefined;
    }
  }
  return parts.length === pattern.length ? params : undefined;
}

async function readBody(raw: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of raw) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(contentType: string | undefined, body: Buffer): unknown {
  if (body.length === 0) return undefined;
  const text = body.toString("utf8");
  const looksJson = /json/i.test(contentType ?? "") || /^\s*[[{]/.test(text);
  if (!looksJson) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Writes a LabResponse. */
export function send(res: ServerResponse, out: LabResponse): void {
  const headers: Record<string, string | string[]> = { ...(out.headers ?? {}) };
  let payload: Buffer | undefined;
  if (out.body === undefined || out.body === null) {
    payload = undefined;
  } else if (Buffer.isBuffer(out.body)) {
    payload = out.body;
  } else if (typeof out.body === "string") {
    payload = Buffer.from(out.body);
    headers["content-type"] ??= "text/plain; charset=utf-8";
  } else {
    payload = Buffer.from(JSON.stringify(out.body));
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
      headers["content-type"] = "application/json; charset=utf-8";
    }
  }
  headers["content-length"] = String(payload?.length ?? 0);
  res.writeHead(out.status, headers);
  res.end(payload);
}

export interface RunningServer {
  server: Server;
  port: number;
  /** https://127.0.0.1:port (or http:// for plain servers). */
  url: string;
  close(): Promise<void>;
}

/** Starts an HTTPS server on 127.0.0.1 (port 0 picks a free one). */
export async function listenHttps(
  tls: { cert: string; key: string },
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  port = 0,
): Promise<RunningServer> {
  const server = createHttpsServer({ cert: tls.cert, key: tls.key }, listener);
  return listen(server, port, "https");
}

/** Starts a plain HTTP server on 127.0.0.1, for endpoints that are plain HTTP in Azure too (managed identity). */
export async function listenHttp(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  port = 0,
): Promise<RunningServer> {
  return listen(createHttpServer(listener), port, "http");
}

async function listen(server: Server, port: number, scheme: string): Promise<RunningServer> {
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("secureConnection", (s: import("node:tls").TLSSocket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    server,
    port: actual,
    url: `${scheme}://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
