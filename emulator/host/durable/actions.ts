/**
 * The orchestrator state that durable-functions' executor returns, and the helpers that turn its
 * action list into the leaf actions the engine schedules.
 */
import type { FailureDetails, RetryPolicy } from "./history.js";

/** durable-functions `ActionType`. */
export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

/** One action as the executor emits it (only the fields the engine reads). */
export interface OrchestratorAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  retryOptions?: RetryPolicy;
  fireAt?: Date | string;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: OrchestratorAction[];
}

/** `IOrchestratorState`. */
export interface OrchestratorState {
  isDone: boolean;
  actions: OrchestratorAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion?: number;
  failureDetails?: FailureDetails;
}

/** The marker durable-functions puts between an orchestration error's message and its state. */
const OUT_OF_PROC_LABEL = "\n\n$OutOfProcData$:";

/** Splits an `OrchestrationFailureError` message into the user's message and the orchestrator state. */
export function parseOrchestrationFailure(message: string): { message: string; state?: OrchestratorState } {
  const at = message.indexOf(OUT_OF_PROC_LABEL);
  if (at < 0) return { message };
  try {
    const state = JSON.parse(message.slice(at + OUT_OF_PROC_LABEL.length)) as OrchestratorState;
    return { message: message.slice(0, at), state };
  } catch {
    return { message: message.slice(0, at) };
  }
}

export function isOrchestratorState(value: unknown): value is OrchestratorState {
  return (
    typeof value === "object" &&
    value !== null &&
    "isDone" in value &&
    Array.isArray((value as { actions?: unknown }).actions)
  );
}

/**
 * The leaf actions in the order durable-functions assigns them sequence numbers: compound actions
 * (Task.all / Task.any) depth-first. Like the Durable extension's out-of-process shim, every leaf
 * counts, including a task that is yielded again inside a later Task.all/Task.any (the action list
 * arrives as JSON, so a re-yielded task cannot be told from a new identical one).
 */
export function flattenActions(state: OrchestratorState): OrchestratorAction[] {
  const out: OrchestratorAction[] = [];
  const visit = (action: OrchestratorAction): void => {
    if (action.actionType === ActionType.WhenAll || action.actionType === ActionType.WhenAny) {
      for (const child of action.compoundActions ?? []) visit(child);
      return;
    }
    out.push(action);
  };
  for (const group of state.actions) for (const action of group) visit(action);
  return out;
}

/**
 * durable-functions JSON-encodes string inputs of activities and continue-as-new (`Utils.processInput`)
 * and leaves other values as they are; this undoes that and answers the value's JSON text.
 */
export function encodeProcessedInput(input: unknown): string | undefined {
  if (typeof input === "string") {
    try {
      JSON.parse(input);
      return input;
    } catch {
      return JSON.stringify(input);
    }
  }
  return input === undefined ? undefined : JSON.stringify(input);
}

/** JSON text of a raw value (`undefined` stays absent). */
export function encodeRaw(value: unknown): string | undefined {
  return value === undefined ? undefined : JSON.stringify(value);
}

/** Parses JSON text, `undefined` for absent text. */
export function decodeJson(text: string | undefined): unknown {
  if (text === undefined || text === "") return undefined;
  return JSON.parse(text) as unknown;
}

/** The delay before retry number `attempt` (1-based) per the Durable Task retry policy, or 0 to stop. */
export function retryDelay(
  policy: RetryPolicy,
  attempt: number,
  firstAttemptAt: number,
  now: number,
): number {
  if (policy.retryTimeoutInMilliseconds !== undefined && policy.retryTimeoutInMilliseconds > 0) {
    if (now >= firstAttemptAt + policy.retryTimeoutInMilliseconds) return 0;
  }
  const backoff = policy.backoffCoefficient ?? 1;
  const delay = policy.firstRetryIntervalInMilliseconds * Math.pow(backoff, attempt - 1);
  const max = policy.maxRetryIntervalInMilliseconds;
  return max !== undefined && max > 0 && delay > max ? max : delay;
}
