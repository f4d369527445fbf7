/**
 * The orchestration engine: runs orchestration episodes through durable-functions' own replay
 * executor (the handler `df.app.orchestration` registers, invoked through the host runtime), keeps
 * history in {@link DurableStore}, runs activities with bounded concurrency, fires durable timers
 * (optionally time-scaled), creates sub-orchestrations, and resumes everything after a restart.
 *
 * Sequence numbers: durable-functions numbers the tasks an orchestrator schedules in the order it
 * tracks them, and also takes numbers for retry timers and retry attempts while it processes a
 * failure (RetryableTask). The engine mirrors that numbering: it delivers at most one
 * retry-relevant event per episode, first, and numbers that event's follow-up before the episode's
 * new actions.
 */
import { randomUUID } from "node:crypto";
import type { FunctionsRuntime } from "../contract.js";
import {
  ActionType,
  decodeJson,
  encodeProcessedInput,
  encodeRaw,
  flattenActions,
  isOrchestratorState,
  parseOrchestrationFailure,
  retryDelay,
  type OrchestratorAction,
  type OrchestratorState,
} from "./actions.js";
import { EventType, newEvent, type FailureDetails, type HistoryEvent, type RetryMeta } from "./history.js";
import {
  terminalStatuses,
  type DurableStore,
  type InstanceQuery,
  type InstanceRecord,
  type PendingMessage,
  type RuntimeStatus,
  type StoredEvent,
} from "./store.js";

/** Options for {@link DurableEngine}. */

/** Durable Functions' limit on an orchestration's serialised custom status: 16 KB of UTF-16. */
const MAX_CUSTOM_STATUS_CHARS = 8192;
export interface DurableEngineOptions {
  runtime: FunctionsRuntime;
  store: DurableStore;
  /** Durable timers wait (fireAt - now) / timeScale of real time. Default 1. */
  timeScale?: number;
  /** host.json `extensions.durableTask.maxConcurrentActivityFunctions`. Default 10. */
  maxConcurrentActivities?: number;
  /** host.json `extensions.durableTask.maxConcurrentOrchestratorFunctions`. Default 10. */
  maxConcurrentOrchestrations?: number;
  /** How many instances' histories stay cached between episodes. Default 1000. */
  maxCachedInstances?: number;
  log?: (level: "debug" | "info" | "warn" | "error", message: string) => void;
}

interface InboxItem {
  kind: "event" | "terminate" | "suspend" | "resume" | "wake";
  event?: HistoryEvent;
  /** Results of work of one execution are dropped once the instance continued as new or restarted. */
  executionId?: string;
  messageId?: string;
  reason?: string;
}

interface InstanceState {
  record: InstanceRecord;
  /** Processed events of the current execution. */
  events: HistoryEvent[];
  /** Written but not yet delivered (the ExecutionStarted of a new execution and carried events). */
  tail: StoredEvent[];
  nextSeq: number;
  nextEventId: number;
  actionCount: number;
  clockOffsetMs: number;
  lastTimestamp: number;
  /** Scheduling events (TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated) still open. */
  open: Map<number, HistoryEvent>;
  deliveredMessageIds: Set<string>;
}

interface ActivityWork {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  input?: string;
}

/** Optional instance fields when starting an orchestration. */
export interface StartOptions {
  instanceId?: string;
  input?: string;
  version?: string;
  parent?: { instanceId: string; executionId: string; taskId: number };
}

export class InstanceExistsError extends Error {
  constructor(instanceId: string, status: string) {
    super(`An orchestration instance with ID '${instanceId}' and status ${status} already exists.`);
    this.name = "InstanceExistsError";
  }
}

export class UnknownFunctionError extends Error {
  constructor(name: string, kind: string) {
    super(`The function '${name}' doesn't exist, is disabled, or is not ${kind} function.`);
    this.name = "UnknownFunctionError";
  }
}

const MAX_TIMEOUT_MS = 2_000_000_000;
const MAX_CARRIED_EVENTS = 90;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function errorDetails(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
}

/** durable-functions `buildTaskFailureDetailsJson` puts a JSON failure payload into the message. */
function failureFromActivityError(name: string, error: unknown): Partial<HistoryEvent> {
  const message = errorMessage(error);
  if (message.startsWith("{")) {
    try {
      const payload = JSON.parse(message) as {
        errorType?: string;
        errorMessage?: string;
        stackTrace?: string;
        isNonRetriable?: boolean;
        properties?: Record<string, unknown>;
      };
      if (typeof payload.errorMessage === "string") {
        const details: FailureDetails = {
          ErrorType: payload.errorType ?? "Error",
          ErrorMessage: payload.errorMessage,
          IsNonRetriable: payload.isNonRetriable ?? false,
        };
        if (payload.stackTrace) details.StackTrace = payload.stackTrace;
        if (payload.properties) details.Properties = payload.properties;
        return {
          Reason: `Activity function '${name}' failed: ${payload.errorMessage}`,
          Details: payload.stackTrace ?? payload.errorMessage,
          FailureDetails: details,
        };
      }
    } catch {
      // not a failure payload: fall through
    }
  }
  return { Reason: `Activity function '${name}' failed: ${message}`, Details: errorDetails(error) };
}

function subInstanceId(parentId: string, taskId: number): string {
  return `${parentId}:${taskId.toString(16).padStart(4, "0")}`;
}

/** The Durable orchestration engine for one task hub. */
export class DurableEngine {
  private readonly runtime: FunctionsRuntime;
  private readonly store: DurableStore;
  private readonly timeScale: number;
  private readonly maxActivities: number;
  private readonly maxEpisodes: number;
  private readonly maxCached: number;
  private readonly log: NonNullable<DurableEngineOptions["log"]>;

  private readonly cache = new Map<string, InstanceState>();
  private readonly inboxes = new Map<string, InboxItem[]>();
  /** Events that arrived while an instance was suspended; delivered after it resumes. */
  private readonly parked = new Map<string, InboxItem[]>();
  private readonly ready: string[] = [];
  private readonly readySet = new Set<string>();
  private readonly running = new Set<string>();
  private readonly activityQueue: ActivityWork[] = [];
  private activeActivities = 0;
  private readonly timers = new Map<string, Map<number, NodeJS.Timeout>>();
  private readonly creating = new Set<string>();
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: DurableEngineOptions) {
    this.runtime = options.runtime;
    this.store = options.store;
    this.timeScale = options.timeScale && options.timeScale > 0 ? options.timeScale : 1;
    this.maxActivities = Math.max(1, options.maxConcurrentActivities ?? 10);
    this.maxEpisodes = Math.max(1, options.maxConcurrentOrchestrations ?? 10);
    this.maxCached = Math.max(1, options.maxCachedInstances ?? 1000);
    this.log = options.log ?? (() => {});
  }

  // ------------------------------------------------------------------ lifecycle

  /** Creates the tables and resumes every unfinished instance. */
  async start(): Promise<void> {
    await this.store.init();
    const ids: string[] = [];
    for await (const record of this.store.allInstances({
      runtimeStatus: ["Pending", "Running", "Suspended"],
    })) {
      ids.push(record.instanceId);
    }
    const messages = new Map<string, PendingMessage[]>();
    for (const message of await this.store.listMessages()) {
      const list = messages.get(message.instanceId) ?? [];
      list.push(message);
      messages.set(message.instanceId, list);
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        try {
          await this.recover(id, messages.get(id) ?? []);
        } catch (error) {
          this.log("error", `durable: could not resume instance '${id}': ${errorMessage(error)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    if (ids.length > 0)
      this.log("info", `durable: resumed ${ids.length} unfinished orchestration instance(s)`);
  }

  /** Stops scheduling, cancels timers, and waits for running episodes to finish writing. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const perInstance of this.timers.values())
      for (const timer of perInstance.values()) clearTimeout(timer);
    this.timers.clear();
    if (this.running.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private async recover(id: string, messages: PendingMessage[]): Promise<void> {
    const st = await this.load(id);
    if (!st) {
      if (messages.length > 0)
        await this.store.deleteMessages(
          id,
          messages.map((m) => m.messageId),
        );
      return;
    }
    const items: InboxItem[] = [];
    for (const scheduled of st.open.values()) this.redispatch(st, scheduled, items);
    const stale: string[] = [];
    for (const message of messages) {
      if (st.deliveredMessageIds.has(message.messageId)) stale.push(message.messageId);
      else items.push(this.itemFromMessage(message));
    }
    if (stale.length > 0) await this.store.deleteMessages(id, stale);
    if (st.tail.length > 0 || st.record.runtimeStatus === "Pending") items.push({ kind: "wake" });
    for (const item of items) this.deliver(id, item);
  }

  private redispatch(st: InstanceState, scheduled: HistoryEvent, items: InboxItem[]): void {
    const id = st.record.instanceId;
    const executionId = st.record.executionId;
    switch (scheduled.EventType) {
      case EventType.TaskScheduled:
        if (scheduled.LocalRetry?.expired) {
          items.push(this.expiredAttemptFailure(scheduled, executionId));
        } else {
          this.enqueueActivity({
            instanceId: id,
            executionId,
            taskId: scheduled.EventId,
            name: scheduled.Name ?? "",
            input: scheduled.Input,
          });
        }
        break;
      case EventType.TimerCreated:
        this.armTimer(
          id,
          executionId,
          scheduled.EventId,
          scheduled.FireAt ?? new Date().toISOString(),
          scheduled.LocalDueAt ?? Date.now(),
        );
        break;
      case EventType.SubOrchestrationInstanceCreated:
        void this.ensureChild(st.record, scheduled).catch((error: unknown) =>
          this.log(
            "error",
            `durable: sub-orchestration of '${id}' could not be resumed: ${errorMessage(error)}`,
          ),
        );
        break;
      default:
        break;
    }
  }

  private itemFromMessage(message: PendingMessage): InboxItem {
    if (message.kind === "event") {
      const event = newEvent(EventType.EventRaised, new Date(), {
        Name: message.name ?? "",
        LocalMessageId: message.messageId,
      });
      if (message.data !== undefined && message.data !== "") event.Input = message.data;
      return { kind: "event", event, messageId: message.messageId };
    }
    const item: InboxItem = { kind: message.kind, messageId: message.messageId };
    if (message.data !== undefined) item.reason = message.data;
    return item;
  }

  // ------------------------------------------------------------------ client operations

  /** Starts a new instance; rejects with {@link InstanceExistsError} when a non-terminal one has the id. */
  async startNew(name: string, options: StartOptions = {}): Promise<string> {
    if (!this.isFunction(name, "orchestrationTrigger"))
      throw new UnknownFunctionError(name, "an orchestrator");
    const instanceId = options.instanceId ?? randomUUID().replace(/-/g, "");
    if (this.creating.has(instanceId)) throw new InstanceExistsError(instanceId, "Pending");
    this.creating.add(instanceId);
    try {
      const existing = this.cache.get(instanceId)?.record ?? (await this.store.getInstance(instanceId));
      if (existing && !terminalStatuses.has(existing.runtimeStatus)) {
        throw new InstanceExistsError(instanceId, existing.runtimeStatus);
      }
      if (existing) {
        this.forget(instanceId);
        await this.store.deleteHistory(instanceId);
        const stale = await this.store.listMessages(instanceId);
        if (stale.length > 0)
          await this.store.deleteMessages(
            instanceId,
            stale.map((m) => m.messageId),
          );
      }
      const now = new Date();
      const executionId = randomUUID();
      const started = newEvent(EventType.ExecutionStarted, now, {
        Name: name,
        OrchestrationInstance: { InstanceId: instanceId, ExecutionId: executionId },
        LocalTail: true,
      });
      if (options.input !== undefined) started.Input = options.input;
      if (options.version !== undefined) started.Version = options.version;
      if (options.parent) {
        started.ParentInstance = {
          OrchestrationInstance: {
            InstanceId: options.parent.instanceId,
            ExecutionId: options.parent.executionId,
          },
          TaskScheduleId: options.parent.taskId,
        };
      }
      // Sequence 0 stays free for the OrchestratorStarted of the first episode.
      await this.store.appendHistory(instanceId, [{ seq: 1, executionId, event: started }]);
      const record: InstanceRecord = {
        instanceId,
        name,
        executionId,
        runtimeStatus: "Pending",
        createdTime: now,
        lastUpdatedTime: now,
      };
      if (options.input !== undefined) record.input = options.input;
      if (options.version !== undefined) record.version = options.version;
      if (options.parent) {
        record.parentInstanceId = options.parent.instanceId;
        record.parentExecutionId = options.parent.executionId;
        record.parentTaskId = options.parent.taskId;
      }
      await this.store.putInstance(record);
      this.deliver(instanceId, { kind: "wake" });
      return instanceId;
    } finally {
      this.creating.delete(instanceId);
    }
  }

  /** Queues a client message durably. Resolves "notFound", "gone" (terminal) or "accepted". */
  async send(
    instanceId: string,
    message: { kind: PendingMessage["kind"]; name?: string; data?: string },
  ): Promise<"notFound" | "gone" | "accepted"> {
    const record = await this.getRecord(instanceId);
    if (!record) return "notFound";
    if (terminalStatuses.has(record.runtimeStatus)) return "gone";
    const stored = await this.store.putMessage({ instanceId, ...message });
    this.deliver(instanceId, this.itemFromMessage(stored));
    return "accepted";
  }

  /** The instance row (from the cache when the instance is active). */
  async getRecord(instanceId: string): Promise<InstanceRecord | undefined> {
    return this.store.getInstance(instanceId);
  }

  /** History of the current execution, as stored. */
  async getHistory(instanceId: string, executionId: string): Promise<HistoryEvent[]> {
    const rows = await this.store.loadHistory(instanceId);
    return rows.filter((row) => row.executionId === executionId).map((row) => row.event);
  }

  /** One page of instance rows matching a query. */
  listInstances(
    query: InstanceQuery,
    pageSize: number | undefined,
    continuationToken: string | undefined,
  ): Promise<{ items: InstanceRecord[]; continuationToken?: string }> {
    return this.store.queryInstances(query, pageSize, continuationToken);
  }

  /** Every instance row matching a query. */
  allInstances(query: InstanceQuery): AsyncIterable<InstanceRecord> {
    return this.store.allInstances(query);
  }

  /** Deletes a terminal instance with its history; false when there is none. */
  async purge(instanceId: string): Promise<boolean> {
    this.forget(instanceId);
    const deleted = await this.store.deleteInstance(instanceId);
    await this.store.deleteHistory(instanceId);
    const messages = await this.store.listMessages(instanceId);
    if (messages.length > 0)
      await this.store.deleteMessages(
        instanceId,
        messages.map((m) => m.messageId),
      );
    return deleted;
  }

  private isFunction(name: string, triggerType: string): boolean {
    return this.runtime.list().some((fn) => fn.name === name && fn.trigger.type === triggerType);
  }

  // ------------------------------------------------------------------ scheduling

  private deliver(instanceId: string, item: InboxItem): void {
    if (this.stopped) return;
    let inbox = this.inboxes.get(instanceId);
    if (!inbox) {
      inbox = [];
      this.inboxes.set(instanceId, inbox);
    }
    inbox.push(item);
    this.schedule(instanceId);
  }

  private schedule(instanceId: string): void {
    if (this.stopped || this.running.has(instanceId) || this.readySet.has(instanceId)) return;
    this.readySet.add(instanceId);
    this.ready.push(instanceId);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.maxEpisodes && this.ready.length > 0) {
      const id = this.ready.shift() as string;
      this.readySet.delete(id);
      this.running.add(id);
      void this.runEpisode(id)
        .catch((error: unknown) => {
          this.log("error", `durable: episode of '${id}' failed: ${errorMessage(error)}; retrying`);
          this.forget(id, false);
          setTimeout(() => this.schedule(id), 1000).unref();
        })
        .finally(() => {
          this.running.delete(id);
          if (this.running.size === 0 && this.idleWaiters.length > 0) {
            for (const resolve of this.idleWaiters.splice(0)) resolve();
          }
          if ((this.inboxes.get(id)?.length ?? 0) > 0) this.schedule(id);
          this.pump();
        });
    }
  }

  private enqueueActivity(work: ActivityWork): void {
    if (this.stopped) return;
    this.activityQueue.push(work);
    this.pumpActivities();
  }

  private pumpActivities(): void {
    while (!this.stopped && this.activeActivities < this.maxActivities && this.activityQueue.length > 0) {
      const work = this.activityQueue.shift() as ActivityWork;
      this.activeActivities++;
      void this.runActivity(work).finally(() => {
        this.activeActivities--;
        this.pumpActivities();
      });
    }
  }

  private async runActivity(work: ActivityWork): Promise<void> {
    let fields: Partial<HistoryEvent>;
    let type: typeof EventType.TaskCompleted | typeof EventType.TaskFailed;
    if (!this.isFunction(work.name, "activityTrigger")) {
      type = EventType.TaskFailed;
      const message = new UnknownFunctionError(work.name, "an activity").message;
      fields = { Reason: message, Details: message };
    } else {
      try {
        const result = await this.runtime.invoke({
          functionName: work.name,
          triggerValue: decodeJson(work.input),
        });
        type = EventType.TaskCompleted;
        fields = { Result: encodeRaw(result.returnValue) ?? "null" };
      } catch (error) {
        type = EventType.TaskFailed;
        fields = failureFromActivityError(work.name, error);
      }
    }
    if (this.stopped) return;
    const event = newEvent(type, new Date(), { TaskScheduledId: work.taskId, ...fields });
    this.deliver(work.instanceId, { kind: "event", event, executionId: work.executionId });
  }

  private armTimer(
    instanceId: string,
    executionId: string,
    timerId: number,
    fireAt: string,
    dueAt: number,
  ): void {
    if (this.stopped) return;
    let perInstance = this.timers.get(instanceId);
    if (!perInstance) {
      perInstance = new Map();
      this.timers.set(instanceId, perInstance);
    }
    const existing = perInstance.get(timerId);
    if (existing) clearTimeout(existing);
    const wait = Math.max(0, dueAt - Date.now());
    const handle = setTimeout(
      () => {
        perInstance.delete(timerId);
        if (perInstance.size === 0) this.timers.delete(instanceId);
        if (dueAt > Date.now()) {
          this.armTimer(instanceId, executionId, timerId, fireAt, dueAt);
          return;
        }
        const event = newEvent(EventType.TimerFired, new Date(), { TimerId: timerId, FireAt: fireAt });
        this.deliver(instanceId, { kind: "event", event, executionId });
      },
      Math.min(wait, MAX_TIMEOUT_MS),
    );
    perInstance.set(timerId, handle);
  }

  private cancelTimers(instanceId: string): void {
    const perInstance = this.timers.get(instanceId);
    if (!perInstance) return;
    for (const timer of perInstance.values()) clearTimeout(timer);
    this.timers.delete(instanceId);
  }

  /** Drops cached state (and, when asked, timers and queued work) of an instance. */
  private forget(instanceId: string, all = true): void {
    this.cache.delete(instanceId);
    if (all) {
      this.cancelTimers(instanceId);
      this.inboxes.delete(instanceId);
      this.parked.delete(instanceId);
    }
  }

  // ------------------------------------------------------------------ loading

  private async load(instanceId: string): Promise<InstanceState | undefined> {
    const cached = this.cache.get(instanceId);
    if (cached) {
      this.cache.delete(instanceId);
      this.cache.set(instanceId, cached);
      return cached;
    }
    const record = await this.store.getInstance(instanceId);
    if (!record) return undefined;
    const rows = await this.store.loadHistory(instanceId);
    const st = await this.buildState(record, rows);
    this.cache.set(instanceId, st);
    while (this.cache.size > this.maxCached) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
    return st;
  }

  private async buildState(record: InstanceRecord, rows: StoredEvent[]): Promise<InstanceState> {
    const id = record.instanceId;
    let currentExecution = record.executionId;
    for (const row of rows)
      if (row.event.EventType === EventType.ExecutionStarted) currentExecution = row.executionId;
    const garbage: StoredEvent[] = [];
    const mine: StoredEvent[] = [];
    for (const row of rows) (row.executionId === currentExecution ? mine : garbage).push(row);
    let lastCompleted = -1;
    mine.forEach((row, index) => {
      if (row.event.EventType === EventType.OrchestratorCompleted) lastCompleted = index;
    });
    const processed = mine.slice(0, lastCompleted + 1);
    // After the last complete episode: the tail written ahead of delivery, then possibly the rows of
    // an episode that was cut short by a crash (dropped: it runs again).
    const tail: StoredEvent[] = [];
    const partial: StoredEvent[] = [];
    for (const row of mine.slice(lastCompleted + 1)) {
      if (row.event.LocalTail && partial.length === 0) tail.push(row);
      else partial.push(row);
    }
    const drop = [...garbage, ...partial].map((row) => row.seq);
    if (drop.length > 0) await this.store.deleteHistory(id, drop);

    const st: InstanceState = {
      record,
      events: processed.map((row) => ({ ...row.event, IsPlayed: true })),
      tail,
      nextSeq: [...processed, ...tail].reduce((max, row) => Math.max(max, row.seq), 0) + 1,
      nextEventId: 0,
      actionCount: 0,
      clockOffsetMs: 0,
      lastTimestamp: 0,
      open: new Map(),
      deliveredMessageIds: new Set(),
    };
    for (const event of st.events) this.track(st, event);
    if (record.executionId !== currentExecution || this.reconcileStatus(st)) {
      record.executionId = currentExecution;
      await this.store.putInstance(record);
    }
    return st;
  }

  /** Brings the instance row in line with history after a crash between the two writes. */
  private reconcileStatus(st: InstanceState): boolean {
    const completed = [...st.events].reverse().find((e) => e.EventType === EventType.ExecutionCompleted);
    if (!completed) return false;
    const status = completed.OrchestrationStatus as RuntimeStatus | undefined;
    if (!status || status === "ContinuedAsNew" || st.record.runtimeStatus === status) return false;
    st.record.runtimeStatus = status;
    if (completed.Result !== undefined) st.record.output = completed.Result;
    return true;
  }

  /** Updates the derived bookkeeping with one processed event. */
  private track(st: InstanceState, event: HistoryEvent): void {
    switch (event.EventType) {
      case EventType.TaskScheduled:
      case EventType.TimerCreated:
      case EventType.SubOrchestrationInstanceCreated:
        st.open.set(event.EventId, event);
        st.nextEventId = Math.max(st.nextEventId, event.EventId + 1);
        break;
      case EventType.TaskCompleted:
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.SubOrchestrationInstanceFailed:
        st.open.delete(event.TaskScheduledId ?? -1);
        break;
      case EventType.TimerFired:
        st.open.delete(event.TimerId ?? -1);
        break;
      case EventType.OrchestratorStarted:
        st.clockOffsetMs = event.LocalClockOffsetMs ?? st.clockOffsetMs;
        st.lastTimestamp = Math.max(st.lastTimestamp, event.Timestamp.getTime());
        break;
      case EventType.OrchestratorCompleted:
        st.actionCount = event.LocalActionCount ?? st.actionCount;
        break;
      case EventType.EventRaised:
        if (event.LocalMessageId) st.deliveredMessageIds.add(event.LocalMessageId);
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------------ episodes

  private retryMetaFor(st: InstanceState, event: HistoryEvent): RetryMeta | undefined {
    if (
      event.EventType === EventType.TaskFailed ||
      event.EventType === EventType.SubOrchestrationInstanceFailed
    ) {
      return st.open.get(event.TaskScheduledId ?? -1)?.LocalRetry;
    }
    if (event.EventType === EventType.TimerFired) return st.open.get(event.TimerId ?? -1)?.LocalRetry;
    return undefined;
  }

  private async runEpisode(instanceId: string): Promise<void> {
    const st = await this.load(instanceId);
    const inbox = this.inboxes.get(instanceId) ?? [];
    this.inboxes.delete(instanceId);
    if (!st || terminalStatuses.has(st.record.runtimeStatus)) {
      const ids = inbox.flatMap((item) => (item.messageId ? [item.messageId] : []));
      if (ids.length > 0) await this.store.deleteMessages(instanceId, ids);
      return;
    }
    const record = st.record;
    const items = inbox.filter((item) => !item.executionId || item.executionId === record.executionId);

    const now = Date.now();
    const consumed: string[] = [];
    const control: HistoryEvent[] = [];
    let terminateReason: string | undefined;
    let terminate = false;
    let suspended = record.runtimeStatus === "Suspended";
    const deliverable: InboxItem[] = [];
    for (const item of items) {
      switch (item.kind) {
        case "terminate":
          terminate = true;
          terminateReason = item.reason;
          break;
        case "suspend":
          if (!suspended)
            control.push(
              newEvent(EventType.ExecutionSuspended, new Date(now), { Reason: item.reason ?? "" }),
            );
          suspended = true;
          break;
        case "resume":
          if (suspended)
            control.push(newEvent(EventType.ExecutionResumed, new Date(now), { Reason: item.reason ?? "" }));
          suspended = false;
          break;
        default:
          deliverable.push(item);
          continue;
      }
      if (item.messageId) consumed.push(item.messageId);
    }

    if (terminate) {
      for (const item of [...deliverable, ...(this.parked.get(instanceId) ?? [])]) {
        if (item.messageId) consumed.push(item.messageId);
      }
      this.parked.delete(instanceId);
      const result = JSON.stringify(terminateReason ?? "");
      const events = [
        newEvent(EventType.ExecutionTerminated, new Date(now), { Input: result }),
        newEvent(EventType.ExecutionCompleted, new Date(now), {
          OrchestrationStatus: "Terminated",
          Result: result,
        }),
      ];
      await this.commit(st, {
        started: this.startedEvent(st, now, st.clockOffsetMs),
        events: [...control, ...events],
        status: "Terminated",
        output: result,
        consumed,
      });
      return;
    }
    if (suspended) {
      const parked = this.parked.get(instanceId) ?? [];
      parked.push(...deliverable.filter((item) => item.kind !== "wake"));
      if (parked.length > 0) this.parked.set(instanceId, parked);
      if (control.length > 0 || record.runtimeStatus !== "Suspended") {
        await this.commit(st, {
          started: this.startedEvent(st, now, st.clockOffsetMs),
          events: control,
          status: "Suspended",
          consumed,
        });
      }
      return;
    }

    const resumed = this.parked.get(instanceId);
    if (resumed) {
      this.parked.delete(instanceId);
      deliverable.unshift(...resumed);
    }
    // At most one retry-relevant event per episode, first (see the file comment).
    let retryItem: InboxItem | undefined;
    const delivered: InboxItem[] = [];
    const deferred: InboxItem[] = [];
    for (const item of deliverable) {
      if (item.kind === "wake" || !item.event) continue;
      if (this.retryMetaFor(st, item.event)) {
        if (retryItem) deferred.push(item);
        else retryItem = item;
      } else {
        delivered.push(item);
      }
    }
    if (retryItem) delivered.unshift(retryItem);
    this.requeue(instanceId, deferred);
    if (delivered.length === 0 && st.tail.length === 0) {
      if (control.length > 0) {
        await this.commit(st, {
          started: this.startedEvent(st, now, st.clockOffsetMs),
          events: control,
          status: "Running",
          consumed,
        });
      }
      return;
    }
    for (const item of delivered) if (item.messageId) consumed.push(item.messageId);

    let offset = st.clockOffsetMs;
    for (const item of delivered) {
      if (item.event?.EventType === EventType.TimerFired && item.event.FireAt) {
        offset = Math.max(offset, Date.parse(item.event.FireAt) - now);
      }
    }
    const started = this.startedEvent(st, now, offset);
    const orchestrationNow = started.Timestamp.getTime();
    const deliveredEvents = delivered.map((item) => item.event as HistoryEvent);
    const tailEvents = st.tail.map((row) => row.event);

    const scheduling: HistoryEvent[] = [];
    const afterCommit: (() => void)[] = [];
    const followUps: InboxItem[] = [];
    if (retryItem?.event)
      this.handleRetryEvent(st, retryItem.event, orchestrationNow, now, scheduling, afterCommit, followUps);

    const executionStarted = [...st.events, ...tailEvents].find(
      (e) => e.EventType === EventType.ExecutionStarted,
    );
    const history = st.events.concat([started], tailEvents, control, deliveredEvents);
    const triggerValue = {
      history,
      input: decodeJson(executionStarted?.Input),
      instanceId,
      isReplaying: st.events.length > 0,
      parentInstanceId: record.parentInstanceId,
      // No long-timer splitting: this backend has no maximum timer length.
      maximumShortTimerDuration: "36500.00:00:00",
      longRunningTimerIntervalDuration: "3.00:00:00",
      defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
      upperSchemaVersion: 2,
      upperSchemaVersionNew: 3,
    };

    let state: OrchestratorState | undefined;
    let failure: { message: string; details?: FailureDetails } | undefined;
    try {
      const result = await this.runtime.invoke({ functionName: record.name, triggerValue });
      if (isOrchestratorState(result.returnValue)) state = result.returnValue;
      else
        failure = { message: `Orchestrator function '${record.name}' did not return an orchestrator state.` };
    } catch (error) {
      const parsed = parseOrchestrationFailure(errorMessage(error));
      failure = { message: parsed.state?.error ?? parsed.message };
      if (parsed.state?.failureDetails) failure.details = parsed.state.failureDetails;
      state = parsed.state;
    }

    let actionCount = st.actionCount;
    let continueAsNew: OrchestratorAction | undefined;
    if (state && !failure) {
      const flat = flattenActions(state);
      for (const action of flat.slice(st.actionCount)) {
        const unsupported = this.scheduleAction(st, action, orchestrationNow, now, scheduling, afterCommit);
        if (unsupported) {
          failure = { message: `The local Durable host does not support ${unsupported} yet.` };
          break;
        }
        if (action.actionType === ActionType.ContinueAsNew) continueAsNew = action;
      }
      actionCount = flat.length;
    }
    let customStatus = state ? encodeRaw(state.customStatus) : record.customStatus;
    if (!failure && customStatus !== undefined && customStatus.length > MAX_CUSTOM_STATUS_CHARS) {
      // The Durable extension refuses a custom status over 16 KB (UTF-16) and fails the orchestration.
      failure = {
        message: `The custom status is ${customStatus.length} characters; Durable Functions allows at most ${MAX_CUSTOM_STATUS_CHARS} (16 KB).`,
      };
      customStatus = record.customStatus;
    }

    const events = [...control, ...deliveredEvents];
    if (failure) {
      const output = JSON.stringify(`Orchestrator function '${record.name}' failed: ${failure.message}`);
      const completed = newEvent(EventType.ExecutionCompleted, new Date(orchestrationNow), {
        OrchestrationStatus: "Failed",
        Result: output,
      });
      if (failure.details) completed.FailureDetails = failure.details;
      events.push(completed);
      await this.commit(st, {
        started,
        events,
        status: "Failed",
        output,
        customStatus,
        consumed,
        actionCount,
      });
      return;
    }
    events.push(...scheduling);
    const done = state?.isDone === true;
    if (done && continueAsNew) {
      const newInput = encodeProcessedInput(continueAsNew.input);
      events.push(
        newEvent(EventType.ExecutionCompleted, new Date(orchestrationNow), {
          OrchestrationStatus: "ContinuedAsNew",
          Result: newInput ?? "null",
        }),
      );
      const carried = this.unconsumedEvents(st.events.concat(deliveredEvents), state as OrchestratorState);
      await this.commit(st, {
        started,
        events,
        status: "Running",
        customStatus,
        consumed,
        actionCount,
        continueAsNew: { input: newInput, carried },
      });
      return;
    }
    if (done) {
      const output = encodeRaw(state?.output) ?? "null";
      events.push(
        newEvent(EventType.ExecutionCompleted, new Date(orchestrationNow), {
          OrchestrationStatus: "Completed",
          Result: output,
        }),
      );
      await this.commit(st, {
        started,
        events,
        status: "Completed",
        output,
        customStatus,
        consumed,
        actionCount,
      });
      return;
    }
    await this.commit(st, { started, events, status: "Running", customStatus, consumed, actionCount });
    for (const run of afterCommit) run();
    for (const item of followUps) this.deliver(instanceId, item);
  }

  private startedEvent(st: InstanceState, now: number, offset: number): HistoryEvent {
    return newEvent(EventType.OrchestratorStarted, new Date(Math.max(now + offset, st.lastTimestamp)), {
      LocalClockOffsetMs: offset,
    });
  }

  private requeue(instanceId: string, items: InboxItem[]): void {
    if (items.length === 0) return;
    const inbox = this.inboxes.get(instanceId) ?? [];
    this.inboxes.set(instanceId, [...items, ...inbox]);
  }

  /** EventRaised events no `waitForExternalEvent` consumed yet (carried over by continue-as-new). */
  private unconsumedEvents(events: HistoryEvent[], state: OrchestratorState): HistoryEvent[] {
    const waits = new Map<string, number>();
    for (const action of flattenActions(state)) {
      if (action.actionType === ActionType.WaitForExternalEvent && action.externalEventName) {
        waits.set(action.externalEventName, (waits.get(action.externalEventName) ?? 0) + 1);
      }
    }
    const carried: HistoryEvent[] = [];
    for (const event of events) {
      if (event.EventType !== EventType.EventRaised) continue;
      const name = event.Name ?? "";
      const remaining = waits.get(name) ?? 0;
      if (remaining > 0) waits.set(name, remaining - 1);
      else carried.push(event);
    }
    return carried.slice(-MAX_CARRIED_EVENTS);
  }

  /** Turns one new action into its scheduling event; answers the action's name when it is unsupported. */
  private scheduleAction(
    st: InstanceState,
    action: OrchestratorAction,
    orchestrationNow: number,
    now: number,
    scheduling: HistoryEvent[],
    afterCommit: (() => void)[],
  ): string | undefined {
    const record = st.record;
    const at = new Date(orchestrationNow);
    switch (action.actionType) {
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry: {
        const id = st.nextEventId++;
        const event = newEvent(EventType.TaskScheduled, at, { EventId: id, Name: action.functionName ?? "" });
        const input = encodeProcessedInput(action.input);
        if (input !== undefined) event.Input = input;
        if (action.actionType === ActionType.CallActivityWithRetry && action.retryOptions) {
          event.LocalRetry = {
            kind: "activity",
            name: event.Name ?? "",
            attempt: 1,
            firstAttemptAt: orchestrationNow,
            options: action.retryOptions,
          };
          if (input !== undefined) event.LocalRetry.input = input;
        }
        scheduling.push(event);
        afterCommit.push(() =>
          this.enqueueActivity({
            instanceId: record.instanceId,
            executionId: record.executionId,
            taskId: id,
            name: event.Name ?? "",
            input,
          }),
        );
        return undefined;
      }
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const id = st.nextEventId++;
        const childId = action.instanceId || subInstanceId(record.instanceId, id);
        const event = newEvent(EventType.SubOrchestrationInstanceCreated, at, {
          EventId: id,
          Name: action.functionName ?? "",
          InstanceId: childId,
        });
        const input = encodeRaw(action.input);
        if (input !== undefined) event.Input = input;
        if (action.actionType === ActionType.CallSubOrchestratorWithRetry && action.retryOptions) {
          event.LocalRetry = {
            kind: "subOrchestration",
            name: event.Name ?? "",
            attempt: 1,
            firstAttemptAt: orchestrationNow,
            options: action.retryOptions,
          };
          if (input !== undefined) event.LocalRetry.input = input;
          if (action.instanceId) event.LocalRetry.instanceId = action.instanceId;
        }
        scheduling.push(event);
        afterCommit.push(() => void this.startChild(record, event));
        return undefined;
      }
      case ActionType.CreateTimer: {
        const id = st.nextEventId++;
        const fireAt =
          action.fireAt instanceof Date ? action.fireAt : new Date(action.fireAt ?? orchestrationNow);
        const dueAt = now + Math.max(0, fireAt.getTime() - orchestrationNow) / this.timeScale;
        const event = newEvent(EventType.TimerCreated, at, {
          EventId: id,
          FireAt: fireAt.toISOString(),
          LocalDueAt: dueAt,
        });
        scheduling.push(event);
        if (!action.isCanceled) {
          afterCommit.push(() =>
            this.armTimer(record.instanceId, record.executionId, id, event.FireAt as string, dueAt),
          );
        }
        return undefined;
      }
      case ActionType.WaitForExternalEvent:
      case ActionType.ContinueAsNew:
        return undefined;
      case ActionType.CallEntity:
        return "entities (callEntity)";
      case ActionType.SignalEntity:
        return "entities (signalEntity)";
      case ActionType.LockEntities:
      case ActionType.ReleaseEntities:
        return "entity locks (lock)";
      case ActionType.CallHttp:
        return "durable HTTP (callHttp)";
      default:
        return `action type ${action.actionType}`;
    }
  }

  /** The engine's side of durable-functions' RetryableTask: a retry timer after a failure, a new attempt after the timer. */
  private handleRetryEvent(
    st: InstanceState,
    event: HistoryEvent,
    orchestrationNow: number,
    now: number,
    scheduling: HistoryEvent[],
    afterCommit: (() => void)[],
    followUps: InboxItem[],
  ): void {
    const record = st.record;
    const meta = this.retryMetaFor(st, event) as RetryMeta;
    const at = new Date(orchestrationNow);
    if (event.EventType !== EventType.TimerFired) {
      let delay = meta.expired
        ? 0
        : retryDelay(meta.options, meta.attempt, meta.firstAttemptAt, orchestrationNow);
      const next: RetryMeta = { ...meta };
      if (!meta.expired) {
        if (event.Reason !== undefined) next.lastReason = event.Reason;
        if (event.Details !== undefined) next.lastDetails = event.Details;
      }
      // The retry timeout passed: durable-functions still waits for a timer, so fire one at once and
      // fail the remaining attempts without running them.
      if (delay <= 0) {
        delay = 0;
        next.expired = true;
      }
      const id = st.nextEventId++;
      const fireAt = new Date(orchestrationNow + delay).toISOString();
      const dueAt = now + delay / this.timeScale;
      scheduling.push(
        newEvent(EventType.TimerCreated, at, {
          EventId: id,
          FireAt: fireAt,
          LocalDueAt: dueAt,
          LocalRetry: next,
        }),
      );
      afterCommit.push(() => this.armTimer(record.instanceId, record.executionId, id, fireAt, dueAt));
      return;
    }
    if (meta.attempt >= meta.options.maxNumberOfAttempts) return;
    const id = st.nextEventId++;
    const next: RetryMeta = { ...meta, attempt: meta.attempt + 1 };
    if (meta.kind === "activity") {
      const scheduled = newEvent(EventType.TaskScheduled, at, {
        EventId: id,
        Name: meta.name,
        LocalRetry: next,
      });
      if (meta.input !== undefined) scheduled.Input = meta.input;
      scheduling.push(scheduled);
      if (meta.expired) followUps.push(this.expiredAttemptFailure(scheduled, record.executionId));
      else
        afterCommit.push(() =>
          this.enqueueActivity({
            instanceId: record.instanceId,
            executionId: record.executionId,
            taskId: id,
            name: meta.name,
            input: meta.input,
          }),
        );
      return;
    }
    const created = newEvent(EventType.SubOrchestrationInstanceCreated, at, {
      EventId: id,
      Name: meta.name,
      InstanceId: meta.instanceId ?? subInstanceId(record.instanceId, id),
      LocalRetry: next,
    });
    if (meta.input !== undefined) created.Input = meta.input;
    scheduling.push(created);
    if (meta.expired) followUps.push(this.expiredAttemptFailure(created, record.executionId));
    else afterCommit.push(() => void this.startChild(record, created));
  }

  private expiredAttemptFailure(scheduled: HistoryEvent, executionId: string): InboxItem {
    const type =
      scheduled.EventType === EventType.TaskScheduled
        ? EventType.TaskFailed
        : EventType.SubOrchestrationInstanceFailed;
    const reason = scheduled.LocalRetry?.lastReason ?? "The retry timeout expired.";
    const event = newEvent(type, new Date(), {
      TaskScheduledId: scheduled.EventId,
      Reason: reason,
      Details: scheduled.LocalRetry?.lastDetails ?? reason,
    });
    return { kind: "event", event, executionId };
  }

  private async commit(
    st: InstanceState,
    change: {
      started: HistoryEvent;
      events: HistoryEvent[];
      status: RuntimeStatus;
      output?: string;
      customStatus?: string | undefined;
      consumed: string[];
      actionCount?: number;
      continueAsNew?: { input: string | undefined; carried: HistoryEvent[] };
    },
  ): Promise<void> {
    const record = st.record;
    const id = record.instanceId;
    const executionId = record.executionId;
    const actionCount = change.actionCount ?? st.actionCount;
    const completed = newEvent(EventType.OrchestratorCompleted, change.started.Timestamp, {
      LocalActionCount: actionCount,
    });
    const reserved = st.tail.length > 0 ? (st.tail[0] as StoredEvent).seq - 1 : undefined;
    let seq = st.nextSeq;
    const before: StoredEvent[] = [{ seq: reserved ?? seq++, executionId, event: change.started }];
    for (const event of change.events) before.push({ seq: seq++, executionId, event });
    const after: StoredEvent[] = [{ seq: seq++, executionId, event: completed }];

    let newExecutionId: string | undefined;
    const newTail: StoredEvent[] = [];
    if (change.continueAsNew) {
      newExecutionId = randomUUID();
      seq++; // reserved for the new execution's first OrchestratorStarted
      const startedEvent = newEvent(EventType.ExecutionStarted, new Date(), {
        Name: record.name,
        OrchestrationInstance: { InstanceId: id, ExecutionId: newExecutionId },
        LocalTail: true,
      });
      if (change.continueAsNew.input !== undefined) startedEvent.Input = change.continueAsNew.input;
      newTail.push({ seq: seq++, executionId: newExecutionId, event: startedEvent });
      for (const event of change.continueAsNew.carried) {
        newTail.push({
          seq: seq++,
          executionId: newExecutionId,
          event: { ...event, IsPlayed: false, LocalTail: true },
        });
      }
    }
    await this.store.appendHistory(id, before);
    await this.store.appendHistory(id, [...after, ...newTail]);

    const previousExecutionRows = change.continueAsNew ? [...before, ...after].map((row) => row.seq) : [];
    const nowDate = new Date();
    record.runtimeStatus = change.status;
    record.lastUpdatedTime = nowDate;
    if (change.output !== undefined) record.output = change.output;
    if (change.customStatus !== undefined) record.customStatus = change.customStatus;
    else delete record.customStatus;
    if (terminalStatuses.has(change.status)) record.completedTime = nowDate;
    if (newExecutionId) {
      record.executionId = newExecutionId;
      if (change.continueAsNew?.input !== undefined) record.input = change.continueAsNew.input;
      else delete record.input;
      delete record.output;
    }
    await this.store.putInstance(record);

    // Update the cached state to what is now stored.
    st.lastTimestamp = Math.max(st.lastTimestamp, change.started.Timestamp.getTime());
    st.clockOffsetMs = change.started.LocalClockOffsetMs ?? st.clockOffsetMs;
    if (newExecutionId) {
      const oldRows = st.events.length;
      st.events = [];
      st.tail = newTail;
      st.open = new Map();
      st.nextEventId = 0;
      st.actionCount = 0;
      st.deliveredMessageIds = new Set();
      this.cancelTimers(id);
      this.log(
        "debug",
        `durable: '${id}' continued as new (dropping ${oldRows + previousExecutionRows.length} history rows)`,
      );
      void this.store
        .loadHistory(id)
        .then((rows) =>
          this.store.deleteHistory(
            id,
            rows.filter((row) => row.executionId !== newExecutionId).map((row) => row.seq),
          ),
        )
        .catch((error: unknown) =>
          this.log("warn", `durable: could not delete old history of '${id}': ${errorMessage(error)}`),
        );
      this.deliver(id, { kind: "wake" });
    } else {
      const rows = [before[0] as StoredEvent, ...st.tail, ...before.slice(1), ...after];
      st.tail = [];
      for (const row of rows) {
        row.event.IsPlayed = true;
        st.events.push(row.event);
        this.track(st, row.event);
      }
      st.actionCount = actionCount;
    }
    st.nextSeq = seq;
    if (change.consumed.length > 0) await this.store.deleteMessages(id, change.consumed);

    if (terminalStatuses.has(change.status)) {
      this.cancelTimers(id);
      this.cache.delete(id);
      this.notifyParent(record, change.status);
    }
  }

  // ------------------------------------------------------------------ sub-orchestrations

  private async startChild(parent: InstanceRecord, created: HistoryEvent): Promise<void> {
    const childId = created.InstanceId as string;
    const name = created.Name ?? "";
    const fail = (reason: string): void => {
      const event = newEvent(EventType.SubOrchestrationInstanceFailed, new Date(), {
        TaskScheduledId: created.EventId,
        Reason: reason,
        Details: reason,
      });
      this.deliver(parent.instanceId, { kind: "event", event, executionId: parent.executionId });
    };
    try {
      const options: StartOptions = {
        instanceId: childId,
        parent: { instanceId: parent.instanceId, executionId: parent.executionId, taskId: created.EventId },
      };
      if (created.Input !== undefined) options.input = created.Input;
      await this.startNew(name, options);
    } catch (error) {
      if (error instanceof InstanceExistsError || error instanceof UnknownFunctionError) fail(error.message);
      else throw error;
    }
  }

  /** After a restart: make sure the child of an open sub-orchestration exists, or deliver its result. */
  private async ensureChild(parent: InstanceRecord, created: HistoryEvent): Promise<void> {
    const child = await this.store.getInstance(created.InstanceId as string);
    const ours =
      child !== undefined &&
      child.parentInstanceId === parent.instanceId &&
      child.parentTaskId === created.EventId &&
      child.parentExecutionId === parent.executionId;
    if (!ours) return this.startChild(parent, created);
    if (terminalStatuses.has(child.runtimeStatus)) this.notifyParent(child, child.runtimeStatus);
  }

  private notifyParent(child: InstanceRecord, status: RuntimeStatus): void {
    if (child.parentInstanceId === undefined || child.parentTaskId === undefined) return;
    const event =
      status === "Completed"
        ? newEvent(EventType.SubOrchestrationInstanceCompleted, new Date(), {
            TaskScheduledId: child.parentTaskId,
            Result: child.output ?? "null",
          })
        : newEvent(EventType.SubOrchestrationInstanceFailed, new Date(), {
            TaskScheduledId: child.parentTaskId,
            Reason: this.childFailureReason(child, status),
            Details: this.childFailureReason(child, status),
          });
    const item: InboxItem = { kind: "event", event };
    if (child.parentExecutionId !== undefined) item.executionId = child.parentExecutionId;
    this.deliver(child.parentInstanceId, item);
  }

  private childFailureReason(child: InstanceRecord, status: RuntimeStatus): string {
    const output = decodeJson(child.output);
    const text = typeof output === "string" ? output : JSON.stringify(output ?? null);
    return status === "Terminated" ? `Sub-orchestration '${child.instanceId}' was terminated: ${text}` : text;
  }
}
