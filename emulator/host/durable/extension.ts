/**
 * The Durable Functions extension of the local host: owns the orchestrationTrigger, activityTrigger
 * and entityTrigger binding types and the durableClient input, serves the Durable HTTP API under
 * `/runtime/webhooks/durabletask/` (guarded by the `durabletask_extension` system key) and, like the
 * real extension, an unauthenticated local RPC endpoint on 127.0.0.1 that the durable client calls.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ExtensionContext, FunctionBinding, HostExtension } from "../contract.js";
import { DurableEngine } from "./engine.js";
import { handleDurableApi, managementPayload, type LinkBuilder } from "./httpApi.js";
import { DurableStore } from "./store.js";

const WEBHOOK_PATH = "/runtime/webhooks/durabletask";
const RPC_PATH = "/durabletask";
const SYSTEM_KEY_NAME = "durabletask_extension";

/** `extensions.durableTask` of host.json, as far as the local host reads it. */
export interface DurableTaskOptions {
  /** Task hub name; defaults to `TestHubName`, as the Functions host does locally. */
  hubName: string;
  /** App setting holding the storage connection string; defaults to `AzureWebJobsStorage`. */
  connectionName: string;
  /** Default 10. */
  maxConcurrentActivityFunctions: number;
  /** Default 10. */
  maxConcurrentOrchestratorFunctions: number;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
}

function positiveInt(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : fallback;
}

/** Reads and validates `extensions.durableTask` from host.json. */
export function readDurableTaskOptions(hostJson: Record<string, unknown>): DurableTaskOptions {
  const durableTask = record(record(hostJson.extensions).durableTask);
  const storageProvider = record(durableTask.storageProvider);
  const hubName =
    typeof durableTask.hubName === "string" && durableTask.hubName !== ""
      ? durableTask.hubName
      : "TestHubName";
  if (!/^[A-Za-z][A-Za-z0-9]{2,44}$/.test(hubName)) {
    throw new Error(
      `host.json extensions.durableTask.hubName '${hubName}' is not a valid task hub name: use 3 to 45 letters and digits, starting with a letter.`,
    );
  }
  const connectionName =
    typeof storageProvider.connectionStringName === "string"
      ? storageProvider.connectionStringName
      : typeof storageProvider.connectionName === "string"
        ? storageProvider.connectionName
        : "AzureWebJobsStorage";
  return {
    hubName,
    connectionName,
    maxConcurrentActivityFunctions: positiveInt(durableTask.maxConcurrentActivityFunctions, 10),
    maxConcurrentOrchestratorFunctions: positiveInt(durableTask.maxConcurrentOrchestratorFunctions, 10),
  };
}

/** Creates the Durable extension. */
export function createDurableExtension(): HostExtension {
  let context: ExtensionContext | undefined;
  let engine: DurableEngine | undefined;
  let links: LinkBuilder | undefined;
  let rpcServer: Server | undefined;
  let rpcBaseUrl = "";

  const authorized = (req: IncomingMessage, url: URL): boolean => {
    if (!context) return false;
    const header = req.headers["x-functions-key"];
    const key = url.searchParams.get("code") ?? (typeof header === "string" ? header : undefined);
    return key !== undefined && (key === context.systemKey(SYSTEM_KEY_NAME) || key === context.masterKey);
  };

  return {
    name: "durable",
    triggerTypes: ["orchestrationTrigger", "activityTrigger", "entityTrigger"],
    inputTypes: ["durableClient"],

    async start(ctx: ExtensionContext): Promise<void> {
      context = ctx;
      const options = readDurableTaskOptions(ctx.hostJson);
      const connectionString = ctx.settings[options.connectionName] ?? "UseDevelopmentStorage=true";
      const store = new DurableStore({ connectionString, hubName: options.hubName });
      engine = new DurableEngine({
        runtime: ctx.runtime,
        store,
        timeScale: ctx.timeScale,
        maxConcurrentActivities: options.maxConcurrentActivityFunctions,
        maxConcurrentOrchestrations: options.maxConcurrentOrchestratorFunctions,
        log: (level, message) => ctx.log(level, message),
      });
      links = {
        webhookBase: `${ctx.baseUrl.replace(/\/$/, "")}${WEBHOOK_PATH}`,
        taskHub: options.hubName,
        connection: options.connectionName === "AzureWebJobsStorage" ? "Storage" : options.connectionName,
        systemKey: ctx.systemKey(SYSTEM_KEY_NAME),
      };
      const activeEngine = engine;
      const activeLinks = links;
      rpcServer = createServer((req: IncomingMessage, res: ServerResponse) => {
        const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "127.0.0.1"}`);
        if (!url.pathname.startsWith(`${RPC_PATH}/`)) {
          res.writeHead(404);
          res.end();
          return;
        }
        void handleDurableApi(
          activeEngine,
          activeLinks,
          req,
          res,
          url.pathname.slice(RPC_PATH.length + 1),
          url,
        );
      });
      await new Promise<void>((resolve, reject) => {
        rpcServer?.once("error", reject);
        rpcServer?.listen(0, "127.0.0.1", () => resolve());
      });
      const port = (rpcServer.address() as AddressInfo).port;
      rpcBaseUrl = `http://127.0.0.1:${port}${RPC_PATH}/`;
      await engine.start();
      ctx.log(
        "info",
        `durable: task hub '${options.hubName}' on ${options.connectionName}; local RPC endpoint ${rpcBaseUrl}; time scale ${ctx.timeScale}`,
      );
    },

    resolveInput(binding: FunctionBinding): unknown {
      if (!links) throw new Error("The Durable extension has not started yet.");
      const taskHub =
        typeof binding.taskHub === "string" && binding.taskHub !== "" ? binding.taskHub : links.taskHub;
      const code = `code=${encodeURIComponent(links.systemKey)}`;
      const creationPrefix = `${links.webhookBase}/orchestrators/{functionName}[/{instanceId}]`;
      return {
        taskHubName: taskHub,
        creationUrls: {
          createNewInstancePostUri: `${creationPrefix}?${code}`,
          createAndWaitOnNewInstancePostUri: `${creationPrefix}?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${code}`,
        },
        managementUrls: managementPayload({ ...links, taskHub }, "INSTANCEID"),
        baseUrl: links.webhookBase,
        requiredQueryStringParameters: code,
        rpcBaseUrl,
        httpBaseUrl: `${links.webhookBase}/`,
        maxGrpcMessageSizeInBytes: 0,
        grpcHttpClientTimeout: "00:01:40",
      };
    },

    async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
      if (url.pathname !== WEBHOOK_PATH && !url.pathname.startsWith(`${WEBHOOK_PATH}/`)) return false;
      if (!engine || !links) {
        res.writeHead(503);
        res.end();
        return true;
      }
      if (!authorized(req, url)) {
        res.writeHead(401);
        res.end();
        return true;
      }
      await handleDurableApi(engine, links, req, res, url.pathname.slice(WEBHOOK_PATH.length + 1), url);
      return true;
    },

    async stop(): Promise<void> {
      await engine?.stop();
      const server = rpcServer;
      rpcServer = undefined;
      if (server) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}
