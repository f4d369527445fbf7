/**
 * The host's HTTP surface on one port: HTTP triggers under the route prefix (`/api` by default), the Event
 * Grid webhook, the admin API, then whatever an extension claims (e.g. `/runtime/webhooks/durabletask/`);
 * anything else is 404. Missing or wrong keys give 401, as the Functions host answers.
 */
import { randomUUID } from "node:crypto";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { handleAdmin, type AdminDeps } from "./admin.js";
import type { FunctionInfo, HostExtension } from "./contract.js";
import { handleEventGridWebhook } from "./eventGrid.js";
import {
  findHttpOutput,
  httpTriggerMetadata,
  toRpcHttpRequest,
  writeRpcHttpResponse,
} from "./httpTrigger.js";
import { BodyTooLargeError, readBody, sendText } from "./httpUtil.js";
import { presentedKey, type KeyRequirement, type KeyStore } from "./keys.js";
import type { HostLogger } from "./log.js";
import { compareRoutes, parseRoute, type RouteTemplate } from "./routes.js";
import type { AppRuntime } from "./runtime.js";
import { resolveSettingExpressions } from "./settings.js";
import { asText } from "./text.js";

/** The request's absolute URL, on the host it was addressed to (the Host header), as the Functions host reports it. */
function requestUrl(req: IncomingMessage, baseUrl: string): URL {
  const fallback = baseUrl || "http://127.0.0.1";
  try {
    return new URL(req.url ?? "/", req.headers.host ? `http://${req.headers.host}` : fallback);
  } catch {
    return new URL(req.url ?? "/", fallback);
  }
}

interface HttpRoute {
  fn: FunctionInfo;
  route: RouteTemplate;
  methods: string[] | undefined;
  authLevel: string;
}

/** Options of {@link FunctionsHttpServer}. */
export interface FunctionsHttpServerOptions {
  runtime: AppRuntime;
  keys: KeyStore;
  logger: HostLogger;
  extensions: readonly HostExtension[];
  settings: Record<string, string | undefined>;
  /** `extensions.http.routePrefix` of host.json; default "api". */
  routePrefix: string;
  /**
   * Where `@azure/functions` listens for proxied requests when the app enabled HTTP streaming
   * (`app.setup({ enableHttpStream: true })`; the `HttpUri` worker capability). Unset: requests go over "RPC".
   */
  httpStreamUri?: string;
  admin: Omit<AdminDeps, "runtime" | "logger" | "baseUrl" | "routeOf" | "body" | "extensionTriggers">;
}

/** The HTTP server of one host. */
export class FunctionsHttpServer {
  readonly #options: FunctionsHttpServerOptions;
  readonly #server: Server;
  #routes: HttpRoute[] = [];
  #baseUrl = "";
  #ready = false;

  constructor(options: FunctionsHttpServerOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      this.#serve(req, res).catch((e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        if (err instanceof BodyTooLargeError) {
          if (!res.headersSent) sendText(res, 413, err.message);
          return;
        }
        options.logger.error(
          `Request ${req.method ?? ""} ${req.url ?? ""} failed: ${err.stack ?? err.message}`,
        );
        if (!res.headersSent) sendText(res, 500);
        else res.destroy();
      });
    });
  }

  /** http://127.0.0.1:<port>, once listening. */
  get baseUrl(): string {
    return this.#baseUrl;
  }

  /** Builds the route table from the app's HTTP-triggered functions; a function with an invalid route is logged and skipped. */
  indexFunctions(functions: FunctionInfo[]): void {
    const routes: HttpRoute[] = [];
    for (const fn of functions) {
      if (fn.trigger.type.toLowerCase() !== "httptrigger") continue;
      try {
        const template = resolveSettingExpressions(asText(fn.trigger.route, fn.name), this.#options.settings);
        const methods = Array.isArray(fn.trigger.methods)
          ? (fn.trigger.methods as unknown[]).map((m) => String(m).toUpperCase())
          : undefined;
        routes.push({
          fn,
          route: parseRoute(template),
          methods,
          authLevel: asText(fn.trigger.authLevel, "function").toLowerCase(),
        });
      } catch (e) {
        this.#options.logger.error(`The HTTP function '${fn.name}' is not routed: ${(e as Error).message}`);
      }
    }
    this.#routes = routes.sort((a, b) => compareRoutes(a.route, b.route));
  }

  /** The URL path (without leading slash) at which an HTTP function is served, for listings. */
  routeOf(fn: FunctionInfo): string | undefined {
    const r = this.#routes.find((x) => x.fn === fn);
    if (!r) return undefined;
    const prefix = this.#options.routePrefix;
    return [prefix, r.route.template.replace(/^\/+/, "")].filter((s) => s.length > 0).join("/");
  }

  /** Starts listening on 127.0.0.1 (port 0 picks a free port). Requests get 503 until {@link markReady}. */
  async listen(port: number, host = "127.0.0.1"): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    this.#baseUrl = `http://${host}:${address.port}`;
    return this.#baseUrl;
  }

  /** Lets requests through. */
  markReady(): void {
    this.#ready = true;
  }

  /** Stops accepting connections and closes open ones. */
  async close(): Promise<void> {
    this.#ready = false;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #authorized(req: IncomingMessage, url: URL, requirement: KeyRequirement, res: ServerResponse): boolean {
    if (this.#options.keys.authorizes(requirement, presentedKey(req.headers, url))) return true;
    sendText(res, 401);
    return false;
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req, this.#baseUrl);
    if (!this.#ready) {
      sendText(res, 503, "The Functions host is not running.", { "retry-after": "1" });
      return;
    }
    const path = url.pathname;
    const opts = this.#options;
    let body: Promise<Buffer> | undefined;
    const bodyOnce = (): Promise<Buffer> => (body ??= readBody(req));

    if (path === "/" && (req.method === "GET" || req.method === "HEAD")) {
      sendText(res, 200, "Your Functions 4.0 app is up and running (local host).");
      return;
    }
    if (path === "/admin/host/ping") {
      sendText(res, 200);
      return;
    }
    if (path.toLowerCase() === "/runtime/webhooks/eventgrid") {
      if (!this.#authorized(req, url, { level: "system", systemKeyName: "eventgrid_extension" }, res)) return;
      await handleEventGridWebhook(req, res, url, { runtime: opts.runtime, body: bodyOnce });
      return;
    }
    if (path.startsWith("/admin/")) {
      if (!this.#authorized(req, url, { level: "admin" }, res)) return;
      const handled = await handleAdmin(req, res, url, {
        ...opts.admin,
        runtime: opts.runtime,
        logger: opts.logger,
        baseUrl: () => this.#baseUrl,
        routeOf: (fn) => this.routeOf(fn),
        body: bodyOnce,
        extensionTriggers: new Map(
          opts.extensions.flatMap((e) => e.triggerTypes.map((t) => [t, e.name] as const)),
        ),
      });
      if (!handled) sendText(res, 404);
      return;
    }
    if (await this.#serveHttpTrigger(req, res, url, bodyOnce)) return;
    for (const extension of opts.extensions) {
      if (await extension.handle(req, res, url)) return;
    }
    sendText(res, 404);
  }

  async #serveHttpTrigger(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: () => Promise<Buffer>,
  ): Promise<boolean> {
    const prefix = this.#options.routePrefix;
    let subPath = url.pathname;
    if (prefix) {
      const head = `/${prefix}`;
      if (
        subPath.toLowerCase() !== head.toLowerCase() &&
        !subPath.toLowerCase().startsWith(`${head.toLowerCase()}/`)
      )
        return false;
      subPath = subPath.slice(head.length);
    }
    const method = (req.method ?? "GET").toUpperCase();
    let chosen: { r: HttpRoute; params: Record<string, string> } | undefined;
    for (const r of this.#routes) {
      if (r.methods && !r.methods.includes(method)) continue;
      const params = r.route.match(subPath);
      if (params) {
        chosen = { r, params };
        break;
      }
    }
    if (!chosen) return false;
    const { r, params } = chosen;
    const requirement: KeyRequirement =
      r.authLevel === "anonymous"
        ? { level: "anonymous" }
        : r.authLevel === "admin" || r.authLevel === "system"
          ? { level: "admin" }
          : { level: "function", functionName: r.fn.name };
    if (!this.#authorized(req, url, requirement, res)) return true;

    if (this.#options.httpStreamUri) {
      await this.#serveStreamed(req, res, url, r.fn, params, this.#options.httpStreamUri);
      return true;
    }
    const rpc = toRpcHttpRequest(req, url, await body(), params);
    let output;
    try {
      const response = await this.#options.runtime.invokeRpc(r.fn.name, {
        data: { http: rpc },
        metadata: httpTriggerMetadata(rpc),
        reason: `This function was programmatically called via the host APIs.`,
      });
      output = findHttpOutput(r.fn, response);
    } catch {
      // The runtime has logged the function's error; the client gets a bare 500, as from the Functions host.
      sendText(res, 500);
      return true;
    }
    writeRpcHttpResponse(res, output);
    return true;
  }

  /**
   * HTTP streaming, as the Functions host does it for the Node.js worker: the invocation carries only the
   * route parameters and headers (in trigger metadata), while the request itself is proxied, body streamed,
   * to the library's proxy server, which answers with the function's response.
   */
  async #serveStreamed(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    fn: FunctionInfo,
    params: Record<string, string>,
    streamUri: string,
  ): Promise<void> {
    const invocationId = randomUUID();
    const rpc = toRpcHttpRequest(req, url, Buffer.alloc(0), params);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== "host") headers[k] = v;
    headers["x-ms-invocation-id"] = invocationId;
    headers["x-forwarded-host"] = url.host;
    headers["x-forwarded-proto"] = url.protocol.replace(":", "");
    const proxied = httpRequest(new URL(`${url.pathname}${url.search}`, streamUri), {
      method: req.method,
      headers,
    });
    const answered = new Promise<void>((resolve, reject) => {
      proxied.once("response", (proxyRes) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(proxyRes.headers))
          if (v !== undefined && k !== "x-ms-invocation-id") out[k] = v;
        res.writeHead(proxyRes.statusCode ?? 200, out);
        proxyRes.pipe(res);
        proxyRes.once("end", () => resolve());
        proxyRes.once("error", reject);
      });
      proxied.once("error", reject);
    });
    req.pipe(proxied);
    try {
      await this.#options.runtime.invokeRpc(fn.name, {
        invocationId,
        data: { http: {} },
        metadata: httpTriggerMetadata(rpc),
        reason: `This function was programmatically called via the host APIs.`,
      });
    } catch {
      proxied.destroy();
      answered.catch(() => undefined);
      if (!res.headersSent) sendText(res, 500);
      else res.destroy();
      return;
    }
    await answered;
  }
}
