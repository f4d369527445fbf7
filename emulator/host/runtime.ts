/**
 * The worker side of the local host: keeps what the app registered through `@azure/functions-core` and
 * invokes functions the way the Node.js worker does (programming model -> invocation model -> hooks ->
 * handler -> response), so `@azure/functions` converts every value itself.
 */
import { randomUUID } from "node:crypto";
import { format } from "node:util";
import type {
  FunctionBinding,
  FunctionInfo,
  FunctionsRuntime,
  HostExtension,
  InvokeRequest,
  InvokeResult,
} from "./contract.js";
import { Disposable, getProgrammingModel, type CoreApiTarget } from "./coreApi.js";
import type {
  CoreInvocationContext,
  FunctionCallback,
  FunctionMetadata,
  HookCallback,
  HookData,
  InvocationState,
  LogHookContext,
  PostInvocationContext,
  PreInvocationContext,
  RpcFunctionMetadata,
  RpcInvocationRequest,
  RpcInvocationResponse,
  RpcLogCategory,
  RpcLogLevel,
  RpcParameterBinding,
  RpcTypedData,
} from "./coreTypes.js";
import type { HostLogger, LogLevel } from "./log.js";
import { fromTypedData, toTypedData } from "./typedData.js";

/** A function as the app registered it. */
export interface RegisteredFunction {
  info: FunctionInfo;
  metadata: RpcFunctionMetadata;
  callback: FunctionCallback;
}

/** The trigger's data and metadata for one invocation, in the worker protocol's form. */
export interface RpcTrigger {
  data: RpcTypedData | null;
  metadata?: Record<string, RpcTypedData>;
  /** Why the function runs, for the log line (e.g. "This function was programmatically called via the host APIs."). */
  reason?: string;
  /** The invocation id to use (default: a new UUID); HTTP streaming needs it before the invocation starts. */
  invocationId?: string;
}

function toLogLevel(level: RpcLogLevel): LogLevel {
  switch (level) {
    case "trace":
    case "debug":
      return "debug";
    case "warning":
      return "warn";
    case "error":
    case "critical":
      return "error";
    default:
      return "info";
  }
}

function readOnly<T extends object>(target: T, key: keyof T & string): void {
  const value = target[key];
  Object.defineProperty(target, key, {
    get: () => value,
    set: () => {
      throw new Error(`Cannot assign to read only property '${key}'.`);
    },
    enumerable: true,
  });
}

/** Options of {@link AppRuntime}. */
export interface AppRuntimeOptions {
  logger: HostLogger;
  /** The loaded extensions, consulted for input bindings they own. */
  extensions: () => readonly HostExtension[];
}

/** The app's registered functions and hooks, and the invoker. Implements the host/extension `FunctionsRuntime`. */
export class AppRuntime implements FunctionsRuntime, CoreApiTarget {
  readonly #functions = new Map<string, RegisteredFunction>();
  readonly #hooks = new Map<string, HookCallback[]>();
  readonly #logger: HostLogger;
  readonly #extensions: () => readonly HostExtension[];
  /** Shared by all hooks (`appHookData`). */
  readonly appHookData: HookData = {};
  /** Only for appStart/appTerminate hooks (their `hookData`). */
  readonly appLevelHookData: HookData = {};
  #startupDone = false;
  #currentInvocation: { context: unknown } | undefined;

  constructor(options: AppRuntimeOptions) {
    this.#logger = options.logger;
    this.#extensions = options.extensions;
  }

  // ---- @azure/functions-core ----

  registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
    if (this.#startupDone) throw new Error("A function can only be registered during app startup.");
    const name = metadata.name;
    if (!name) throw new Error("A function must have a name.");
    if (this.#functions.has(name)) throw new Error(`A function named '${name}' is already registered.`);
    const bindings: FunctionBinding[] = Object.entries(metadata.bindings).map(([bindingName, b]) => ({
      ...b,
      name: bindingName,
      type: String(b.type ?? ""),
      direction: b.direction ?? "in",
    }));
    const trigger = bindings.find((b) => /trigger$/i.test(b.type));
    if (!trigger) throw new Error(`The function '${name}' has no trigger binding.`);
    const info: FunctionInfo = { name, trigger, bindings, retryOptions: metadata.retryOptions };
    const rpcMetadata: RpcFunctionMetadata = {
      name,
      functionId: metadata.functionId ?? name,
      bindings: metadata.bindings,
      rawBindings: bindings.map((b) => JSON.stringify(b)),
      scriptFile: "n/a",
      retryOptions: metadata.retryOptions ?? null,
      language: "node",
    };
    this.#functions.set(name, { info, metadata: rpcMetadata, callback });
    return new Disposable(() => {
      if (this.#startupDone) throw new Error("A function can only be disposed during app startup.");
      this.#functions.delete(name);
    });
  }

  registerHook(hookName: string, callback: HookCallback): Disposable {
    const known = ["preInvocation", "postInvocation", "appStart", "appTerminate", "log"];
    if (!known.includes(hookName)) throw new RangeError(`Unrecognized hook "${hookName}"`);
    const list = this.#hooks.get(hookName) ?? [];
    list.push(callback);
    this.#hooks.set(hookName, list);
    return new Disposable(() => {
      const current = this.#hooks.get(hookName) ?? [];
      this.#hooks.set(
        hookName,
        current.filter((c) => c !== callback),
      );
    });
  }

  log(level: RpcLogLevel, category: RpcLogCategory, message: string): void {
    this.#emitLog(level, category, message, undefined);
  }

  // ---- FunctionsRuntime ----

  list(): FunctionInfo[] {
    return [...this.#functions.values()].map((f) => f.info);
  }

  /** The registered function called `name` (case-insensitive, as the host resolves names). */
  get(name: string): RegisteredFunction | undefined {
    const exact = this.#functions.get(name);
    if (exact) return exact;
    const lower = name.toLowerCase();
    return [...this.#functions.values()].find((f) => f.info.name.toLowerCase() === lower);
  }

  async invoke(request: InvokeRequest): Promise<InvokeResult> {
    const metadata: Record<string, RpcTypedData> = {};
    for (const [k, v] of Object.entries(request.triggerMetadata ?? {})) {
      const data = toTypedData(v);
      if (data) metadata[k] = data;
    }
    const response = await this.invokeRpc(request.functionName, {
      data: toTypedData(request.triggerValue),
      metadata,
    });
    return { returnValue: fromTypedData(response.returnValue) };
  }

  // ---- lifecycle ----

  /** Ends the startup phase: from now on functions can no longer be registered. */
  finishStartup(): void {
    this.#startupDone = true;
  }

  /** Runs the appStart or appTerminate hooks. */
  async runAppHooks(hookName: "appStart" | "appTerminate", functionAppDirectory: string): Promise<void> {
    const context: Record<string, unknown> = {
      hookData: this.appLevelHookData,
      appHookData: this.appHookData,
    };
    if (hookName === "appStart") context.functionAppDirectory = functionAppDirectory;
    readOnly(context, "hookData");
    readOnly(context, "appHookData");
    for (const callback of this.#hooks.get(hookName) ?? []) await callback(context);
  }

  // ---- invocation ----

  /**
   * Invokes `functionName` with a trigger value in the worker protocol's form, as the host's invocation request
   * would carry it, and answers with the worker's invocation response. Rejects with the function's own error.
   */
  async invokeRpc(functionName: string, trigger: RpcTrigger): Promise<RpcInvocationResponse> {
    const fn = this.get(functionName);
    if (!fn) throw new Error(`The function '${functionName}' is not registered.`);
    const model = getProgrammingModel();
    if (!model)
      throw new Error("The app did not set a programming model (is it an @azure/functions v4 app?).");

    const invocationId = trigger.invocationId ?? randomUUID();
    const name = fn.info.name;
    const inputData: RpcParameterBinding[] = [{ name: fn.info.trigger.name, data: trigger.data }];
    for (const binding of fn.info.bindings) {
      if (binding === fn.info.trigger || binding.direction !== "in") continue;
      const owner = this.#extensions().find((e) => e.inputTypes.includes(binding.type));
      if (owner)
        inputData.push({
          name: binding.name,
          data: toTypedData(owner.resolveInput(binding), { rawString: true }),
        });
    }
    const request: RpcInvocationRequest = {
      invocationId,
      functionId: fn.metadata.functionId ?? name,
      inputData,
      triggerMetadata: { ...trigger.metadata, sys: sysMetadata(name) },
      traceContext: { traceParent: traceParent(invocationId), traceState: "", attributes: {} },
      retryContext: null,
    };
    let invocationContext: unknown;
    const coreCtx: CoreInvocationContext & { state?: InvocationState } = {
      invocationId,
      request,
      metadata: fn.metadata,
      state: undefined,
      log: (level, category, message) =>
        this.#emitLog(level, category, message, { name, invocationId, invocationContext }),
    };

    const started = Date.now();
    const reason = trigger.reason ?? `This function was triggered by ${fn.info.trigger.type}.`;
    this.#logger.log("info", `Executing 'Functions.${name}' (Reason='${reason}', Id=${invocationId})`, {
      functionName: name,
      invocationId,
    });
    try {
      const invocationModel = await model.getInvocationModel(coreCtx);
      const hookData: HookData = {};
      const args = await invocationModel.getArguments();
      invocationContext = args.context;

      const pre: PreInvocationContext = {
        hookData,
        appHookData: this.appHookData,
        invocationContext,
        inputs: args.inputs,
        functionCallback: fn.callback,
      };
      readOnly(pre, "hookData");
      readOnly(pre, "appHookData");
      readOnly(pre, "invocationContext");
      await this.#runHooks("preInvocation", pre, coreCtx, "preInvocationHooks");

      const post: PostInvocationContext = {
        hookData,
        appHookData: this.appHookData,
        invocationContext,
        inputs: pre.inputs,
        result: null,
        error: null,
      };
      readOnly(post, "hookData");
      readOnly(post, "appHookData");
      readOnly(post, "invocationContext");
      coreCtx.state = "invocation";
      const previous = this.#currentInvocation;
      this.#currentInvocation = { context: invocationContext };
      try {
        post.result = await invocationModel.invokeFunction(
          invocationContext,
          pre.inputs,
          pre.functionCallback,
        );
      } catch (err) {
        post.error = err;
      } finally {
        coreCtx.state = undefined;
        this.#currentInvocation = previous;
      }
      await this.#runHooks("postInvocation", post, coreCtx, "postInvocationHooks");
      // As the worker does, the function's own error (or what a postInvocation hook set) is
      // rethrown unchanged, whatever its type.
      const failed = post.error !== null && post.error !== undefined;
      if (failed) throw post.error;
      const response = await invocationModel.getResponse(invocationContext, post.result);
      this.#logger.log(
        "info",
        `Executed 'Functions.${name}' (Succeeded, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
        {
          functionName: name,
          invocationId,
        },
      );
      return response;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      this.#logger.log(
        "error",
        `Executed 'Functions.${name}' (Failed, Id=${invocationId}, Duration=${Date.now() - started}ms)\n${e.stack ?? e.message}`,
        { functionName: name, invocationId },
      );
      throw err;
    }
  }

  async #runHooks(
    hookName: "preInvocation" | "postInvocation",
    context: object,
    coreCtx: { state?: InvocationState },
    state: InvocationState,
  ): Promise<void> {
    const callbacks = this.#hooks.get(hookName) ?? [];
    if (callbacks.length === 0) return;
    coreCtx.state = state;
    try {
      for (const callback of callbacks) await callback(context);
    } finally {
      coreCtx.state = undefined;
    }
  }

  #emitLog(
    level: RpcLogLevel,
    category: RpcLogCategory,
    message: string,
    invocation: { name: string; invocationId: string; invocationContext: unknown } | undefined,
  ): void {
    const logHooks = this.#hooks.get("log") ?? [];
    let finalLevel = level;
    let finalMessage = message;
    if (logHooks.length > 0) {
      const context: LogHookContext = {
        hookData: {},
        appHookData: this.appHookData,
        invocationContext: invocation?.invocationContext ?? this.#currentInvocation?.context,
        category,
        level,
        message,
      };
      for (const hook of logHooks) {
        try {
          hook(context);
        } catch (err) {
          this.#logger.warn(`A log hook threw: ${format(err)}`);
        }
      }
      if (category === "user") {
        finalLevel = context.level;
        finalMessage = context.message;
      }
    }
    if (finalLevel === "none") return;
    // The library's own ("system") messages are diagnostics; the app's ("user") messages are the log.
    const hostLevel =
      category === "system" && toLogLevel(finalLevel) === "info" ? "debug" : toLogLevel(finalLevel);
    this.#logger.log(
      hostLevel,
      finalMessage,
      invocation ? { functionName: invocation.name, invocationId: invocation.invocationId } : undefined,
    );
  }
}

function sysMetadata(methodName: string): RpcTypedData {
  return {
    json: JSON.stringify({
      MethodName: methodName,
      UtcNow: new Date().toISOString(),
      RandGuid: randomUUID(),
    }),
  };
}

function traceParent(invocationId: string): string {
  const traceId = invocationId.replace(/-/g, "");
  return `00-${traceId}-${traceId.slice(0, 16)}-00`;
}
