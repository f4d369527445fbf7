/**
 * The `@azure/functions-core` module, as the Azure Functions Node.js worker provides it to the app.
 *
 * `@azure/functions` (CommonJS) calls `require('@azure/functions-core')` to register the app's functions and
 * hooks and to set its programming model. No such package exists on npm: the worker answers that `require`
 * itself. The host does the same by wrapping Node's CommonJS `Module._load`, which every `require` goes
 * through, including the `require` calls of CommonJS packages that an ES module app imports.
 *
 * The module is process-wide (the library caches it on first use), so it forwards registrations to whichever
 * host is loading its app at the time (a {@link CoreApiTarget}).
 */
import Module from "node:module";
import type {
  FunctionCallback,
  FunctionMetadata,
  HookCallback,
  ProgrammingModel,
  RpcLogCategory,
  RpcLogLevel,
} from "./coreTypes.js";

/** `Disposable` as the worker exports it: `dispose()` runs the callback once. */
export class Disposable {
  #callOnDispose: (() => unknown) | undefined;

  /** Combines several disposables into one. */
  static from(...disposables: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => disposables.forEach((d) => d.dispose()));
  }

  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }

  /** Runs the callback given to the constructor, the first time only. */
  dispose(): unknown {
    const fn = this.#callOnDispose;
    this.#callOnDispose = undefined;
    return fn?.();
  }
}

/** The host that receives what the app registers. */
export interface CoreApiTarget {
  registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable;
  registerHook(hookName: string, callback: HookCallback): Disposable;
  log(level: RpcLogLevel, category: RpcLogCategory, message: string): void;
}

/** The version this module reports as the worker's. */
export const coreVersion = "3.10.1-local";
/** The version this module reports as the Functions host's. */
export const hostVersion = "4.1040.0-local";

let programmingModel: ProgrammingModel | undefined;
let currentTarget: CoreApiTarget | undefined;

function target(): CoreApiTarget {
  if (!currentTarget) {
    throw new Error("@azure/functions-core was used while no local Functions host is running.");
  }
  return currentTarget;
}

/** The object that `require('@azure/functions-core')` returns. */
export const coreApi = {
  version: coreVersion,
  hostVersion,
  Disposable,
  registerFunction: (metadata: FunctionMetadata, callback: FunctionCallback): Disposable =>
    target().registerFunction(metadata, callback),
  registerHook: (hookName: string, callback: HookCallback): Disposable =>
    target().registerHook(hookName, callback),
  setProgrammingModel: (model: ProgrammingModel): void => {
    programmingModel = model;
  },
  getProgrammingModel: (): ProgrammingModel | undefined => programmingModel,
  log: (level: RpcLogLevel, category: RpcLogCategory, message: string): void => {
    if (currentTarget) currentTarget.log(level, category, message);
  },
};

/** The programming model the app's library set (the `@azure/functions` `ProgrammingModel`), if any. */
export function getProgrammingModel(): ProgrammingModel | undefined {
  return programmingModel;
}

/** Makes `target` the receiver of registrations, hooks and logs from now on. */
export function setCoreApiTarget(target: CoreApiTarget): void {
  currentTarget = target;
}

/** Detaches `target` if it is still the current receiver. */
export function clearCoreApiTarget(target: CoreApiTarget): void {
  if (currentTarget === target) currentTarget = undefined;
}

type LoadFunction = (request: string, parent: unknown, isMain: boolean) => unknown;
interface ModuleInternals {
  _load: LoadFunction;
}

const installed = Symbol.for("e2e-cert-rotation.functions-core-installed");

/**
 * Answers `require('@azure/functions-core')` with {@link coreApi} in this process, from now on.
 * Must run before the app (or anything that loads `@azure/functions`) is imported. Idempotent.
 */
export function installCoreModule(): void {
  const internals = Module as unknown as ModuleInternals & { [installed]?: boolean };
  if (internals[installed]) return;
  const originalLoad = internals._load;
  internals._load = function load(this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
    if (request === "@azure/functions-core") return coreApi;
    return originalLoad.call(this, request, parent, isMain);
  };
  internals[installed] = true;
}
