/**
 * The host's admin API (master key): `GET /admin/host/status`, `GET /admin/functions[/<name>]`, and
 * `POST /admin/functions/<name>` with `{"input": "..."}`, which runs a non-HTTP function once and answers
 * 202 at once, as the Functions host does. `GET /admin/host/ping` needs no key.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { hostVersion } from "./coreApi.js";
import type { FunctionInfo } from "./contract.js";
import { sendJson, sendText } from "./httpUtil.js";
import type { HostLogger } from "./log.js";
import type { AppRuntime } from "./runtime.js";
import type { TimerScheduler } from "./timers.js";

/** Dependencies of {@link handleAdmin}. */
export interface AdminDeps {
  runtime: AppRuntime;
  timers: TimerScheduler;
  logger: HostLogger;
  baseUrl: () => string;
  routeOf: (fn: FunctionInfo) => string | undefined;
  hostId: string;
  startedAt: number;
  hostJson: Record<string, unknown>;
  body: () => Promise<Buffer>;
  /** Trigger types that an extension drives, with the extension's name. */
  extensionTriggers: ReadonlyMap<string, string>;
}

function describe(fn: FunctionInfo, deps: AdminDeps): Record<string, unknown> {
  const route = deps.routeOf(fn);
  return {
    name: fn.name,
    language: "node",
    isDisabled: false,
    isDirect: true,
    href: `${deps.baseUrl()}/admin/functions/${fn.name}`,
    invoke_url_template: route === undefined ? null : `${deps.baseUrl()}/${route}`,
    config: { bindings: fn.bindings, retry: fn.retryOptions ?? null },
  };
}

/** Serves an (already authorized) `/admin/...` request; resolves false when the path is not an admin endpoint. */
export async function handleAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  deps: AdminDeps,
): Promise<boolean> {
  const path = url.pathname.replace(/\/+$/, "");
  const method = req.method ?? "GET";
  if (path === "/admin/host/status" && method === "GET") {
    const bundle = deps.hostJson.extensionBundle as Record<string, unknown> | undefined;
    sendJson(res, 200, {
      id: deps.hostId,
      state: "Running",
      version: hostVersion,
      versionDetails: `${hostVersion} (local Node.js host)`,
      platformVersion: "",
      instanceId: deps.hostId,
      computerName: "localhost",
      processUptime: Date.now() - deps.startedAt,
      functionAppContentEditingState: "NotAllowed",
      ...(bundle ? { extensionBundle: { id: bundle.id, version: bundle.version } } : {}),
    });
    return true;
  }
  if (path === "/admin/functions" && method === "GET") {
    sendJson(
      res,
      200,
      deps.runtime.list().map((fn) => describe(fn, deps)),
    );
    return true;
  }
  const match = /^\/admin\/functions\/([^/]+)$/.exec(path);
  if (!match) return false;
  const name = decodeURIComponent(match[1] ?? "");
  const fn = deps.runtime.get(name)?.info;
  if (!fn) {
    sendText(res, 404, `The function '${name}' does not exist.`);
    return true;
  }
  if (method === "GET") {
    sendJson(res, 200, describe(fn, deps));
    return true;
  }
  if (method !== "POST") {
    sendText(res, 405, `Use GET or POST on /admin/functions/${name}.`, { allow: "GET, POST" });
    return true;
  }
  if (fn.trigger.type.toLowerCase() === "httptrigger") {
    sendText(
      res,
      400,
      `'${fn.name}' is HTTP-triggered: call it at its route instead of through the admin API.`,
    );
    return true;
  }
  const owner = deps.extensionTriggers.get(fn.trigger.type);
  if (owner) {
    sendText(
      res,
      400,
      `'${fn.name}' has a ${fn.trigger.type}, which the ${owner} extension drives: start it through that extension.`,
    );
    return true;
  }
  const raw = (await deps.body()).toString("utf8").trim();
  let input: unknown;
  try {
    input = raw ? (JSON.parse(raw) as { input?: unknown }).input : undefined;
  } catch (e) {
    sendText(res, 400, `The body must be JSON like {"input": "..."}: ${(e as Error).message}`);
    return true;
  }
  const run =
    fn.trigger.type.toLowerCase() === "timertrigger"
      ? deps.timers.runNow(fn.name)
      : deps.runtime.invokeRpc(fn.name, {
          data:
            input === undefined || input === null
              ? null
              : { string: typeof input === "string" ? input : JSON.stringify(input) },
          reason: "This function was programmatically called via the host APIs.",
        });
  run.catch(() => {
    // The runtime has logged the failure; the caller already has its 202.
  });
  res.writeHead(202, { "content-length": 0 }).end();
  return true;
}
