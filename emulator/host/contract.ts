/**
 * The seam between the local Functions host (which loads an app and invokes its functions) and the
 * host extensions that own binding types (Durable Functions owns orchestrationTrigger,
 * activityTrigger, entityTrigger and the durableClient input). Mirrors how the real host and its
 * extensions divide the work.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** One binding of a registered function, as the app's metadata declares it (`type`, `direction`, and the rest). */
export interface FunctionBinding {
  name: string;
  type: string;
  direction: "in" | "out" | "inout";
  [property: string]: unknown;
}

/** What the host knows of one function the app registered. */
export interface FunctionInfo {
  name: string;
  /** The trigger binding. */
  trigger: FunctionBinding;
  /** Every binding, trigger included. */
  bindings: FunctionBinding[];
  /** Function-level retry policy from the app metadata, if any. */
  retryOptions?: unknown;
}

export interface InvokeRequest {
  functionName: string;
  /**
   * The trigger's value as the worker would receive it, already decoded from its wire form
   * (for orchestrationTrigger: the orchestration binding info object; for activityTrigger: the input).
   */
  triggerValue: unknown;
  triggerMetadata?: Record<string, unknown>;
}

export interface InvokeResult {
  /** The function's return value (for orchestrations: the orchestrator state object). */
  returnValue: unknown;
}

/** The running app, as extensions see it. `invoke` rejects with the function's own error when it throws. */
export interface FunctionsRuntime {
  list(): FunctionInfo[];
  invoke(request: InvokeRequest): Promise<InvokeResult>;
}

export interface ExtensionContext {
  runtime: FunctionsRuntime;
  /** e.g. http://127.0.0.1:7071 */
  baseUrl: string;
  appDir: string;
  /** Parsed host.json of the app. */
  hostJson: Record<string, unknown>;
  /** App settings (local.settings.json Values merged over process.env). */
  settings: Record<string, string | undefined>;
  /** The value of a named system key (e.g. "durabletask_extension"), created on first use and persisted. */
  systemKey(name: string): string;
  masterKey: string;
  /** Durable timers fire after (delay / timeScale); 1 means real time. */
  timeScale: number;
  /** Folder for the extension's own local files. */
  stateDir: string;
  log(level: "debug" | "info" | "warn" | "error", message: string): void;
}

/** A binding extension, loaded by the host before the app's functions can run. */
export interface HostExtension {
  readonly name: string;
  /** Trigger binding types that this extension invokes. */
  readonly triggerTypes: readonly string[];
  /** Input binding types whose value this extension supplies. */
  readonly inputTypes: readonly string[];
  start(context: ExtensionContext): Promise<void>;
  /** The value of an input binding of one of `inputTypes`, for one invocation. */
  resolveInput(binding: FunctionBinding): unknown;
  /** Handles an HTTP request the host did not route itself; resolves false when the path is not its own. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** Stops scheduling work and waits for nothing else to be written. */
  stop(): Promise<void>;
}
