/**
 * Durable Task history events in the shape durable-functions' replay executor reads (PascalCase
 * properties, `EventType` numbers as in its `HistoryEventType`), plus the few private bookkeeping
 * fields the local engine keeps on them (prefixed `Local`; the executor ignores unknown properties).
 */

/** durable-functions `HistoryEventType`. */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export type EventTypeValue = (typeof EventType)[keyof typeof EventType];

const eventTypeNames = new Map<number, string>(
  Object.entries(EventType).map(([name, value]) => [value, name]),
);

/** The documented name of an event type (`TaskCompleted` for 5). */
export function eventTypeName(type: number): string {
  return eventTypeNames.get(type) ?? `Unknown${type}`;
}

/** Retry bookkeeping carried on every scheduling event of a retried activity or sub-orchestration. */
export interface RetryMeta {
  /** "activity" or "subOrchestration". */
  kind: "activity" | "subOrchestration";
  name: string;
  /** Input as JSON text. */
  input?: string;
  /** Explicit sub-orchestration instance id, if any. */
  instanceId?: string;
  /** 1-based number of the attempt this event belongs to (for timers: of the attempt that failed). */
  attempt: number;
  /** Orchestration time (ms) of the first attempt, for `retryTimeoutInMilliseconds`. */
  firstAttemptAt: number;
  options: RetryPolicy;
  /** Set once the retry timeout has passed: remaining attempts fail without running. */
  expired?: boolean;
  /** Reason/Details of the last real failure, replayed for attempts skipped after expiry. */
  lastReason?: string;
  lastDetails?: string;
}

/** durable-functions `RetryOptions` as it appears in a `CallActivityWithRetry` action. */
export interface RetryPolicy {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/** One history event. Every engine-written event has these base fields. */
export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: Date;
  Name?: string;
  Input?: string;
  Result?: string;
  Reason?: string;
  Details?: string;
  FailureDetails?: FailureDetails;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  InstanceId?: string;
  OrchestrationStatus?: string;
  Version?: string;
  OrchestrationInstance?: { InstanceId: string; ExecutionId: string };
  ParentInstance?: {
    OrchestrationInstance: { InstanceId: string; ExecutionId: string };
    TaskScheduleId: number;
  };
  /** Engine: number of (deduplicated, flattened) orchestrator actions handled so far (OrchestratorCompleted). */
  LocalActionCount?: number;
  /** Engine: how far the orchestration clock runs ahead of the wall clock after time-scaled timers. */
  LocalClockOffsetMs?: number;
  /** Engine: wall-clock time (ms) at which a timer is due, after time scaling (TimerCreated). */
  LocalDueAt?: number;
  /** Engine: retry chain state (TaskScheduled, SubOrchestrationInstanceCreated, TimerCreated). */
  LocalRetry?: RetryMeta;
  /** Engine: the event was written ahead of the episode that will deliver it (new execution). */
  LocalTail?: boolean;
  /** Engine: id of the pending message row the event came from (EventRaised), to drop duplicates. */
  LocalMessageId?: string;
}

/** durable-functions `FailureDetails` wire payload. */
export interface FailureDetails {
  ErrorType: string;
  ErrorMessage: string;
  StackTrace?: string;
  IsNonRetriable?: boolean;
  Properties?: Record<string, unknown>;
}

/** Creates an event with the base fields set. */
export function newEvent(
  type: EventTypeValue,
  timestamp: Date,
  fields: Partial<HistoryEvent> = {},
): HistoryEvent {
  return { EventType: type, EventId: -1, IsPlayed: false, Timestamp: timestamp, ...fields };
}

/** Serialises an event for storage (the Date becomes ISO text). */
export function serializeEvent(event: HistoryEvent): string {
  return JSON.stringify(event);
}

/** Parses a stored event, restoring `Timestamp` as a Date. */
export function deserializeEvent(text: string): HistoryEvent {
  const parsed = JSON.parse(text) as HistoryEvent & { Timestamp: string | Date };
  parsed.Timestamp = new Date(parsed.Timestamp);
  return parsed;
}

const internalKeys = new Set([
  "LocalActionCount",
  "LocalClockOffsetMs",
  "LocalDueAt",
  "LocalRetry",
  "LocalTail",
  "LocalMessageId",
  "IsPlayed",
]);

/**
 * The history as the Durable HTTP API shows it with `showHistory=true`: event type names,
 * scheduling events folded into their completions (`FunctionName`, `ScheduledTime`), outputs only
 * with `showHistoryOutput=true`.
 */
export function historyForApi(
  events: readonly HistoryEvent[],
  showOutput: boolean,
): Record<string, unknown>[] {
  const scheduled = new Map<number, HistoryEvent>();
  const out: Record<string, unknown>[] = [];
  for (const event of events) {
    switch (event.EventType) {
      case EventType.OrchestratorStarted:
      case EventType.OrchestratorCompleted:
        continue;
      case EventType.TaskScheduled:
      case EventType.SubOrchestrationInstanceCreated:
        scheduled.set(event.EventId, event);
        continue;
      default:
        break;
    }
    const item: Record<string, unknown> = { EventType: eventTypeName(event.EventType) };
    for (const [key, value] of Object.entries(event)) {
      if (internalKeys.has(key) || key === "EventType") continue;
      if ((key === "Result" || key === "Input") && event.EventType !== EventType.ExecutionStarted) {
        if (!showOutput) continue;
        item[key] = parseMaybe(value);
        continue;
      }
      if (key === "Input") {
        item[key] = parseMaybe(value);
        continue;
      }
      item[key] = value instanceof Date ? value.toISOString() : value;
    }
    if (event.EventType === EventType.ExecutionStarted) item.FunctionName = event.Name;
    const source = event.TaskScheduledId === undefined ? undefined : scheduled.get(event.TaskScheduledId);
    if (source) {
      item.FunctionName = source.Name;
      item.ScheduledTime = source.Timestamp.toISOString();
    }
    out.push(item);
  }
  return out;
}

function parseMaybe(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}
