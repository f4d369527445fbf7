/**
 * `startHost`: runs one Functions v4 Node.js app in this process, as the Functions host plus the Node.js
 * worker would: settings, keys, app loading through `@azure/functions-core`, extensions, timers and the
 * HTTP surface. Used by the CLI (`main.ts`), by `npm start` and by tests.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { Server as NetServer, type AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { loadApp } from "./appLoader.js";
import { ensureAzurite, type AzuriteHandle } from "./azurite.js";
import type { ExtensionContext, FunctionInfo, HostExtension } from "./contract.js";
import { clearCoreApiTarget, getProgrammingModel, installCoreModule, setCoreApiTarget } from "./coreApi.js";
import { createDurableExtension } from "./durable/extension.js";
import { FunctionsHttpServer } from "./httpServer.js";
import { KeyStore } from "./keys.js";
import { createLogger, type LogLevel } from "./log.js";
import { AppRuntime } from "./runtime.js";
import { applySettings, readLocalSettings } from "./settings.js";
import { TimerScheduler } from "./timers.js";

/** Options of {@link startHost}. */
export interface HostOptions {
  /** The app folder (with package.json `main` and host.json). */
  appDir: string;
  /** Port on 127.0.0.1; 0 picks a free one. Default: local.settings.json `Host.LocalHttpPort`, else 7071. */
  port?: number;
  /** Folder for keys, timer status and extension state. Default `<appDir>/.host`. */
  stateDir?: string;
  /** Durable timers fire after delay / timeScale. Default 1 (real time). */
  timeScale?: number;
  /** App settings that override local.settings.json and the environment (applied to process.env while the host runs). */
  settings?: Record<string, string>;
  /** Binding extensions. Default: the Durable Functions extension. */
  extensions?: HostExtension[];
  /**
   * Azurite for `AzureWebJobsStorage`:
   * "auto" (default) starts or reuses one on the default ports when an extension is loaded (the Durable one
   * keeps its state in storage) and the setting is `UseDevelopmentStorage=true` (or unset); true does so
   * whatever the extensions; "ephemeral" starts a private one on free ports (data under `<stateDir>/azurite`)
   * and points `AzureWebJobsStorage` at it; false never starts one.
   */
  azurite?: boolean | "auto" | "ephemeral";
  /** Azurite data folder for the default ports. Default `<appDir>/.azurite`. */
  azuriteLocation?: string;
  /** Lowest log level written. Default "info". */
  logLevel?: LogLevel;
  /** Receives each log line instead of stdout/stderr. */
  logSink?: (line: string, level: LogLevel) => void;
}

/** A running host. */
export interface RunningHost {
  /** e.g. http://127.0.0.1:7071 */
  baseUrl: string;
  masterKey: string;
  /** The default host key (accepted by every function-level HTTP function). */
  hostKey: string;
  functionKey(functionName: string): string;
  systemKey(name: string): string;
  /** The functions the app registered. */
  functions(): FunctionInfo[];
  /** The state folder in use (keys.json, timers.json, extension state). */
  stateDir: string;
  /** The Azurite in use, if the host ensured one. */
  azurite: AzuriteHandle | undefined;
  /** Stops timers, extensions and the server, runs appTerminate hooks, and stops an Azurite it started. */
  stop(): Promise<void>;
}

let loading: Promise<unknown> = Promise.resolve();

/** Serializes app loading: the `@azure/functions-core` module serves one loading host at a time. */
function exclusively<T>(work: () => Promise<T>): Promise<T> {
  const run = loading.then(work, work);
  loading = run.catch(() => undefined);
  return run;
}

function readHostJson(appDir: string): Record<string, unknown> {
  const file = join(appDir, "host.json");
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

function routePrefixOf(hostJson: Record<string, unknown>): string {
  const http = (hostJson.extensions as { http?: { routePrefix?: unknown } } | undefined)?.http;
  const prefix = typeof http?.routePrefix === "string" ? http.routePrefix : "api";
  return prefix.replace(/^\/+|\/+$/g, "");
}

/**
 * Closes the proxy server `@azure/functions` opened for HTTP streaming (it keeps no reference one could
 * close it by; under the worker it lives as long as the process). Found among the process's handles by port.
 */
async function closeStreamProxy(httpUri: string): Promise<void> {
  const port = Number(new URL(httpUri).port);
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  const servers = handles.filter(
    (h): h is NetServer => h instanceof NetServer && (h.address() as AddressInfo | null)?.port === port,
  );
  await Promise.all(servers.map((server) => new Promise<void>((done) => server.close(() => done()))));
}

/** Starts a host for `options.appDir`; resolves once it serves requests. */
export async function startHost(options: HostOptions): Promise<RunningHost> {
  const appDir = resolve(options.appDir);
  const stateDir = resolve(options.stateDir ?? join(appDir, ".host"));
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0)) throw new Error(`The time scale must be a positive number, got ${timeScale}.`);
  mkdirSync(stateDir, { recursive: true });
  const logger = createLogger({ level: options.logLevel, sink: options.logSink });
  const hostJson = readHostJson(appDir);
  const local = readLocalSettings(appDir);
  const extensions = options.extensions ?? [createDurableExtension()];
  const azuriteMode = options.azurite ?? "auto";

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        logger.warn(`Shutdown step failed: ${(e as Error).message}`);
      }
    }
    cleanups.length = 0;
  };

  try {
    let azurite: AzuriteHandle | undefined;
    const overrides: Record<string, string> = { ...options.settings };
    if (azuriteMode === "ephemeral") {
      azurite = await ensureAzurite({ location: join(stateDir, "azurite"), ports: "ephemeral" });
      cleanups.push(() => azurite?.stop());
      overrides.AzureWebJobsStorage ??= azurite.storageSetting;
    }
    const applied = applySettings(
      {
        FUNCTIONS_WORKER_RUNTIME: "node",
        ...(azuriteMode === false ? {} : { AzureWebJobsStorage: "UseDevelopmentStorage=true" }),
        ...local.values,
      },
      overrides,
    );
    cleanups.push(() => applied.restore());
    const settings = applied.settings;
    if (settings.FUNCTIONS_WORKER_RUNTIME && settings.FUNCTIONS_WORKER_RUNTIME !== "node") {
      logger.warn(
        `FUNCTIONS_WORKER_RUNTIME is '${settings.FUNCTIONS_WORKER_RUNTIME}'; this host runs Node.js apps only.`,
      );
    }

    const keys = KeyStore.open(stateDir);
    const runtime = new AppRuntime({ logger, extensions: () => extensions });

    let capabilities: Record<string, string> = {};
    installCoreModule();
    await exclusively(async () => {
      setCoreApiTarget(runtime);
      await loadApp(appDir, logger);
      runtime.finishStartup();
      await runtime.runAppHooks("appStart", appDir);
      capabilities = (await getProgrammingModel()?.getCapabilities?.({})) ?? {};
    });
    cleanups.push(() => clearCoreApiTarget(runtime));
    if (capabilities.HttpUri) cleanups.push(() => closeStreamProxy(capabilities.HttpUri ?? ""));
    cleanups.push(() => runtime.runAppHooks("appTerminate", appDir));

    const functions = runtime.list();
    const owned = new Set(extensions.flatMap((e) => [...e.triggerTypes, ...e.inputTypes]));
    const builtIn = new Set(["httptrigger", "timertrigger", "eventgridtrigger"]);
    for (const fn of functions) {
      const type = fn.trigger.type;
      if (!builtIn.has(type.toLowerCase()) && !owned.has(type)) {
        logger.warn(
          `'${fn.name}' has a ${type} trigger, which this host does not fire; run it with POST /admin/functions/${fn.name}.`,
        );
      }
      for (const b of fn.bindings) {
        if (b === fn.trigger || b.type.toLowerCase() === "http" || owned.has(b.type)) continue;
        logger.warn(
          `'${fn.name}' has a ${b.direction} binding of type ${b.type}, which this host does not provide.`,
        );
      }
    }
    const wantsDevStorage = (settings.AzureWebJobsStorage ?? "") === "UseDevelopmentStorage=true";
    if (
      !azurite &&
      wantsDevStorage &&
      (azuriteMode === true || (azuriteMode === "auto" && extensions.length > 0))
    ) {
      azurite = await ensureAzurite({
        location: resolve(options.azuriteLocation ?? join(appDir, ".azurite")),
      });
      cleanups.push(() => azurite?.stop());
      logger.info(
        `Azurite ${azurite.started ? "started" : "already running"}: tables at ${azurite.tableEndpoint}.`,
      );
    }

    const port = options.port ?? local.localHttpPort ?? 7071;
    const startedAt = Date.now();
    const timers = new TimerScheduler({ runtime, logger, stateDir, settings });
    const server = new FunctionsHttpServer({
      runtime,
      keys,
      logger,
      extensions,
      settings,
      routePrefix: routePrefixOf(hostJson),
      httpStreamUri: capabilities.HttpUri,
      admin: { timers, hostId: randomBytes(8).toString("hex"), startedAt, hostJson },
    });
    server.indexFunctions(functions);
    const baseUrl = await server.listen(port);
    cleanups.push(() => server.close());
    // As in Azure, WEBSITE_HOSTNAME names the app's host; durable-functions builds the management URLs of
    // createHttpManagementPayload from it (and would otherwise say localhost:7071).
    if (process.env.WEBSITE_HOSTNAME === undefined) {
      process.env.WEBSITE_HOSTNAME = new URL(baseUrl).host;
      cleanups.push(() => {
        delete process.env.WEBSITE_HOSTNAME;
      });
    }

    const context: ExtensionContext = {
      runtime,
      baseUrl,
      appDir,
      hostJson,
      settings,
      systemKey: (name) => keys.systemKey(name),
      masterKey: keys.masterKey,
      timeScale,
      stateDir,
      log: (level, message) => logger.log(level, message, "extension"),
    };
    for (const extension of extensions) {
      await extension.start({
        ...context,
        log: (level, message) => logger.log(level, message, extension.name),
      });
      cleanups.push(() => extension.stop());
    }
    timers.start(functions);
    cleanups.push(() => timers.stop());
    server.markReady();

    for (const fn of functions) {
      const route = server.routeOf(fn);
      logger.info(
        `${fn.name}: ${route === undefined ? `[${fn.trigger.type}]` : `[${((fn.trigger.methods as string[] | undefined) ?? ["ALL"]).join(",")}] ${baseUrl}/${route}`}`,
      );
    }
    logger.info(`Host started at ${baseUrl} with ${functions.length} function(s).`);

    let stopped: Promise<void> | undefined;
    return {
      baseUrl,
      masterKey: keys.masterKey,
      hostKey: keys.hostKey,
      functionKey: (name) => keys.functionKey(name),
      systemKey: (name) => keys.systemKey(name),
      functions: () => runtime.list(),
      stateDir,
      azurite,
      stop: () => (stopped ??= cleanup().then(() => logger.info("Host stopped."))),
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
