/**
 * Local Azure Functions host for Functions v4 Node.js apps (no Core Tools, no Docker, no Azure account).
 *
 *   npm run host -- --app <dir> [--port 7071] [--state-dir <dir>] [--time-scale 60] [--no-azurite] [--quiet]
 *
 * Design, in the order a request meets it:
 * - appLoader.ts imports the files that the app's package.json `main` (path or glob) names, after
 *   coreApi.ts has made `require('@azure/functions-core')` answer with the worker's API. The app's own
 *   `@azure/functions` (and `durable-functions`) thus register every function with its real metadata and
 *   set their programming model, exactly as under the Node.js worker.
 * - runtime.ts invokes a function the way the worker does: programming model -> invocation model ->
 *   getArguments -> preInvocation hooks -> handler -> postInvocation hooks -> getResponse, with the trigger
 *   value in the worker protocol's `TypedData` form, so the library builds HttpRequest, InvocationContext,
 *   extraInputs and converts the result itself. It is the `FunctionsRuntime` of contract.ts.
 * - httpServer.ts serves 127.0.0.1: `/api/<route>` (routes.ts: parameters, optional, catch-all,
 *   constraints; keys.ts: function/host/master keys in <stateDir>/keys.json, `x-functions-key` or `?code=`),
 *   `/runtime/webhooks/eventgrid` (eventGrid.ts, `eventgrid_extension` system key), `/admin/*` (admin.ts,
 *   master key), then each extension's `handle()`; else 404.
 * - timers.ts fires timer triggers (NCRONTAB with seconds, runOnStartup, past-due from <stateDir>/timers.json).
 * - Extensions (contract.ts `HostExtension`; the Durable one in durable/) own their binding types and get an
 *   `ExtensionContext`. azurite.ts starts Azurite from node_modules when they need `UseDevelopmentStorage=true`.
 * - settings.ts: local.settings.json `Values` become environment variables unless already set.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { startHost } from "./host.js";

const usage = `Usage: npm run host -- [--app <dir>] [--port <n>] [--state-dir <dir>] [--time-scale <n>]
                       [--azurite | --no-azurite] [--quiet] [--verbose]

  --app         Functions v4 Node.js app folder (package.json "main", host.json). Default: current folder.
  --port        Port on 127.0.0.1. Default: local.settings.json Host.LocalHttpPort, else 7071.
  --state-dir   Keys, timer status and Durable state. Default: <app>/.host
  --time-scale  Durable timers fire after delay / n. Default: 1.
  --no-azurite  Never start Azurite (AzureWebJobsStorage must then point at a storage account or emulator).
  --azurite     Always start (or reuse) Azurite on 127.0.0.1:10000-10002, data in <app>/.azurite.
  --quiet       Only warnings and errors.
  --verbose     Also debug output.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      app: { type: "string" },
      port: { type: "string" },
      "state-dir": { type: "string" },
      "time-scale": { type: "string" },
      azurite: { type: "boolean" },
      "no-azurite": { type: "boolean" },
      quiet: { type: "boolean" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new Error(`--port must be a port number, got '${values.port}'.`);
  }
  const timeScale = values["time-scale"] === undefined ? undefined : Number(values["time-scale"]);
  if (timeScale !== undefined && !(timeScale > 0))
    throw new Error(`--time-scale must be a positive number, got '${values["time-scale"]}'.`);

  const host = await startHost({
    appDir: resolve(values.app ?? process.cwd()),
    port,
    stateDir: values["state-dir"],
    timeScale,
    azurite: values["no-azurite"] ? false : values.azurite ? true : "auto",
    logLevel: values.quiet ? "warn" : values.verbose ? "debug" : "info",
  });
  console.log(`Function, host and master keys: ${host.stateDir}/keys.json`);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping the host…`);
    host.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(e);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  console.error(usage);
  process.exit(1);
});
