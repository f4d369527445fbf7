/**
 * Persistence of one task hub in Azure Storage Tables (Azurite locally), laid out like the real
 * Azure Storage provider: `<Hub>Instances` (one row per instance, PartitionKey = instance id) and
 * `<Hub>History` (one row per history event, PartitionKey = instance id, RowKey = sequence number),
 * plus `<Hub>Messages` for client messages (raised events, terminate/suspend/resume) accepted but not
 * yet delivered, so that a 202 answer survives a crash of the host.
 *
 * Each episode's history rows go out as entity-group transactions (100 rows per transaction); the
 * episode's `OrchestratorCompleted` row is always in the last one, so a load can recognise and drop
 * a partially written episode.
 */
import { odata, RestError, TableClient, type TableEntity, type TransactionAction } from "@azure/data-tables";
import { asText } from "../text.js";
import { deserializeEvent, serializeEvent, type HistoryEvent } from "./history.js";

/** Table string properties hold at most 32K UTF-16 characters; longer values are split across columns. */
const CHUNK_CHARS = 30_000;
const MAX_CHUNKS = 28;
const MAX_BATCH_ROWS = 100;
const MAX_BATCH_BYTES = 3_500_000;

export type RuntimeStatus =
  "Pending" | "Running" | "Completed" | "ContinuedAsNew" | "Failed" | "Canceled" | "Terminated" | "Suspended";

export const terminalStatuses: ReadonlySet<RuntimeStatus> = new Set([
  "Completed",
  "Failed",
  "Canceled",
  "Terminated",
]);

/** One row of `<Hub>Instances`. JSON payloads are kept as JSON text. */
export interface InstanceRecord {
  instanceId: string;
  name: string;
  version?: string;
  executionId: string;
  runtimeStatus: RuntimeStatus;
  input?: string;
  output?: string;
  customStatus?: string;
  createdTime: Date;
  lastUpdatedTime: Date;
  completedTime?: Date;
  parentInstanceId?: string;
  parentExecutionId?: string;
  parentTaskId?: number;
}

/** One stored history row. */
export interface StoredEvent {
  seq: number;
  executionId: string;
  event: HistoryEvent;
}

/** A client message waiting for delivery. */
export interface PendingMessage {
  instanceId: string;
  messageId: string;
  kind: "event" | "terminate" | "suspend" | "resume";
  name?: string;
  /** JSON text (events) or reason (control messages). */
  data?: string;
}

export interface InstanceQuery {
  createdTimeFrom?: Date;
  createdTimeTo?: Date;
  runtimeStatus?: RuntimeStatus[];
  instanceIdPrefix?: string;
}

/** Options for {@link DurableStore}. */
export interface DurableStoreOptions {
  /** Storage connection string (`UseDevelopmentStorage=true` means Azurite on its default ports). */
  connectionString: string;
  /** Task hub name; table names derive from it. */
  hubName: string;
}

function seqKey(seq: number): string {
  return seq.toString().padStart(12, "0");
}

function putChunked(entity: Record<string, unknown>, column: string, value: string | undefined): void {
  if (value === undefined) return;
  if (value.length <= CHUNK_CHARS) {
    entity[column] = value;
    return;
  }
  const chunks = Math.ceil(value.length / CHUNK_CHARS);
  if (chunks > MAX_CHUNKS) {
    throw new Error(
      `A durable payload of ${value.length} characters exceeds what one table row can hold; pass a reference to the data instead.`,
    );
  }
  entity[`${column}Chunks`] = chunks;
  for (let i = 0; i < chunks; i++)
    entity[`${column}_${i}`] = value.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS);
}

function getChunked(entity: Record<string, unknown>, column: string): string | undefined {
  const chunks = entity[`${column}Chunks`];
  if (typeof chunks === "number") {
    let text = "";
    for (let i = 0; i < chunks; i++) text += asText(entity[`${column}_${i}`]);
    return text;
  }
  const value = entity[column];
  return typeof value === "string" ? value : undefined;
}

function isStatus(code: number, error: unknown): boolean {
  return error instanceof RestError && error.statusCode === code;
}

function asDate(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (typeof value === "string") return new Date(value);
  return undefined;
}

/** Table-backed storage for one task hub. */
export class DurableStore {
  readonly instances: TableClient;
  readonly history: TableClient;
  readonly messages: TableClient;
  private messageCounter = 0;

  constructor(options: DurableStoreOptions) {
    const clientOptions = { allowInsecureConnection: true, retryOptions: { maxRetries: 3 } };
    this.instances = TableClient.fromConnectionString(
      options.connectionString,
      `${options.hubName}Instances`,
      clientOptions,
    );
    this.history = TableClient.fromConnectionString(
      options.connectionString,
      `${options.hubName}History`,
      clientOptions,
    );
    this.messages = TableClient.fromConnectionString(
      options.connectionString,
      `${options.hubName}Messages`,
      clientOptions,
    );
  }

  /** Creates the tables if they do not exist. */
  async init(): Promise<void> {
    for (const table of [this.instances, this.history, this.messages]) {
      try {
        await table.createTable();
      } catch (error) {
        if (!isStatus(409, error)) throw error;
      }
    }
  }

  // ---- instances ----

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    try {
      const entity = await this.instances.getEntity<Record<string, unknown>>(instanceId, "");
      return this.toInstance(entity);
    } catch (error) {
      if (isStatus(404, error)) return undefined;
      throw error;
    }
  }

  async putInstance(record: InstanceRecord): Promise<void> {
    await this.instances.upsertEntity(this.fromInstance(record), "Replace");
  }

  async deleteInstance(instanceId: string): Promise<boolean> {
    try {
      await this.instances.deleteEntity(instanceId, "");
      return true;
    } catch (error) {
      if (isStatus(404, error)) return false;
      throw error;
    }
  }

  /** One page of instances matching `query`; `continuationToken` is opaque. */
  async queryInstances(
    query: InstanceQuery,
    pageSize: number | undefined,
    continuationToken: string | undefined,
  ): Promise<{ items: InstanceRecord[]; continuationToken?: string }> {
    const pager = this.instances
      .listEntities<Record<string, unknown>>({ queryOptions: { filter: this.instanceFilter(query) } })
      .byPage({ maxPageSize: pageSize ?? 1000, continuationToken });
    const page = await pager.next();
    if (page.done) return { items: [] };
    const items = page.value.map((entity) => this.toInstance(entity));
    const token = page.value.continuationToken;
    return token ? { items, continuationToken: token } : { items };
  }

  /** Every instance matching `query`. */
  async *allInstances(query: InstanceQuery): AsyncIterable<InstanceRecord> {
    for await (const entity of this.instances.listEntities<Record<string, unknown>>({
      queryOptions: { filter: this.instanceFilter(query) },
    })) {
      yield this.toInstance(entity);
    }
  }

  private instanceFilter(query: InstanceQuery): string | undefined {
    const parts: string[] = [];
    if (query.createdTimeFrom) parts.push(odata`CreatedTime ge ${query.createdTimeFrom}`);
    if (query.createdTimeTo) parts.push(odata`CreatedTime le ${query.createdTimeTo}`);
    if (query.instanceIdPrefix) {
      parts.push(odata`PartitionKey ge ${query.instanceIdPrefix}`);
      parts.push(odata`PartitionKey lt ${query.instanceIdPrefix + "\uffff"}`);
    }
    if (query.runtimeStatus && query.runtimeStatus.length > 0) {
      parts.push(`(${query.runtimeStatus.map((status) => odata`RuntimeStatus eq ${status}`).join(" or ")})`);
    }
    return parts.length > 0 ? parts.join(" and ") : undefined;
  }

  private fromInstance(record: InstanceRecord): TableEntity<Record<string, unknown>> {
    const entity: TableEntity<Record<string, unknown>> = {
      partitionKey: record.instanceId,
      rowKey: "",
      Name: record.name,
      ExecutionId: record.executionId,
      RuntimeStatus: record.runtimeStatus,
      CreatedTime: record.createdTime,
      LastUpdatedTime: record.lastUpdatedTime,
    };
    if (record.version !== undefined) entity.Version = record.version;
    if (record.completedTime) entity.CompletedTime = record.completedTime;
    if (record.parentInstanceId !== undefined) entity.ParentInstanceId = record.parentInstanceId;
    if (record.parentExecutionId !== undefined) entity.ParentExecutionId = record.parentExecutionId;
    if (record.parentTaskId !== undefined) entity.ParentTaskId = record.parentTaskId;
    putChunked(entity, "Input", record.input);
    putChunked(entity, "Output", record.output);
    putChunked(entity, "CustomStatus", record.customStatus);
    return entity;
  }

  private toInstance(entity: Record<string, unknown>): InstanceRecord {
    const record: InstanceRecord = {
      instanceId: String(entity.partitionKey),
      name: asText(entity.Name),
      executionId: asText(entity.ExecutionId),
      runtimeStatus: asText(entity.RuntimeStatus, "Pending") as RuntimeStatus,
      createdTime: asDate(entity.CreatedTime) ?? new Date(0),
      lastUpdatedTime: asDate(entity.LastUpdatedTime) ?? new Date(0),
    };
    if (typeof entity.Version === "string") record.version = entity.Version;
    const completed = asDate(entity.CompletedTime);
    if (completed) record.completedTime = completed;
    if (typeof entity.ParentInstanceId === "string") record.parentInstanceId = entity.ParentInstanceId;
    if (typeof entity.ParentExecutionId === "string") record.parentExecutionId = entity.ParentExecutionId;
    if (typeof entity.ParentTaskId === "number") record.parentTaskId = entity.ParentTaskId;
    const input = getChunked(entity, "Input");
    if (input !== undefined) record.input = input;
    const output = getChunked(entity, "Output");
    if (output !== undefined) record.output = output;
    const customStatus = getChunked(entity, "CustomStatus");
    if (customStatus !== undefined) record.customStatus = customStatus;
    return record;
  }

  // ---- history ----

  /** Every history row of an instance, in order. */
  async loadHistory(instanceId: string): Promise<StoredEvent[]> {
    const rows: StoredEvent[] = [];
    for await (const entity of this.history.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${instanceId}` },
    })) {
      const text = getChunked(entity, "Event");
      if (text === undefined) continue;
      rows.push({
        seq: Number(entity.rowKey),
        executionId: asText(entity.ExecutionId),
        event: deserializeEvent(text),
      });
    }
    rows.sort((a, b) => a.seq - b.seq);
    return rows;
  }

  /**
   * Writes history rows as entity-group transactions. Rows are upserted, so rewriting the sequence
   * numbers of a dropped partial episode is harmless.
   */
  async appendHistory(instanceId: string, rows: readonly StoredEvent[]): Promise<void> {
    let batch: TransactionAction[] = [];
    let bytes = 0;
    for (const row of rows) {
      const entity: TableEntity<Record<string, unknown>> = {
        partitionKey: instanceId,
        rowKey: seqKey(row.seq),
        ExecutionId: row.executionId,
        EventType: row.event.EventType,
      };
      const text = serializeEvent(row.event);
      putChunked(entity, "Event", text);
      const size = text.length * 2 + 200;
      if (batch.length > 0 && (batch.length >= MAX_BATCH_ROWS || bytes + size > MAX_BATCH_BYTES)) {
        await this.history.submitTransaction(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(["upsert", entity, "Replace"]);
      bytes += size;
    }
    if (batch.length > 0) await this.history.submitTransaction(batch);
  }

  /** Deletes the given rows (or every row of the instance). */
  async deleteHistory(instanceId: string, seqs?: readonly number[]): Promise<number> {
    let keys: string[];
    if (seqs) {
      keys = seqs.map(seqKey);
    } else {
      keys = [];
      for await (const entity of this.history.listEntities({
        queryOptions: { filter: odata`PartitionKey eq ${instanceId}`, select: ["RowKey"] },
      })) {
        keys.push(String(entity.rowKey));
      }
    }
    for (let i = 0; i < keys.length; i += MAX_BATCH_ROWS) {
      const batch: TransactionAction[] = keys
        .slice(i, i + MAX_BATCH_ROWS)
        .map((rowKey) => ["delete", { partitionKey: instanceId, rowKey }]);
      try {
        await this.history.submitTransaction(batch);
      } catch (error) {
        if (!isStatus(404, error)) throw error;
        for (const [, entity] of batch) {
          await this.history.deleteEntity(entity.partitionKey, entity.rowKey).catch((e: unknown) => {
            if (!isStatus(404, e)) throw e;
          });
        }
      }
    }
    return keys.length;
  }

  // ---- messages ----

  /** Stores a client message; resolves with its id once it is durable. */
  async putMessage(message: Omit<PendingMessage, "messageId">): Promise<PendingMessage> {
    const messageId = `${Date.now().toString().padStart(15, "0")}-${(this.messageCounter++).toString().padStart(8, "0")}-${process.pid}`;
    const entity: TableEntity<Record<string, unknown>> = {
      partitionKey: message.instanceId,
      rowKey: messageId,
      Kind: message.kind,
    };
    if (message.name !== undefined) entity.Name = message.name;
    putChunked(entity, "Data", message.data);
    await this.messages.createEntity(entity);
    return { ...message, messageId };
  }

  async deleteMessages(instanceId: string, messageIds: readonly string[]): Promise<void> {
    for (let i = 0; i < messageIds.length; i += MAX_BATCH_ROWS) {
      const batch: TransactionAction[] = messageIds
        .slice(i, i + MAX_BATCH_ROWS)
        .map((rowKey) => ["delete", { partitionKey: instanceId, rowKey }]);
      try {
        await this.messages.submitTransaction(batch);
      } catch (error) {
        if (!isStatus(404, error)) throw error;
        for (const [, entity] of batch) {
          await this.messages.deleteEntity(entity.partitionKey, entity.rowKey).catch((e: unknown) => {
            if (!isStatus(404, e)) throw e;
          });
        }
      }
    }
  }

  /** Every pending message (of one instance, or of the whole hub), oldest first. */
  async listMessages(instanceId?: string): Promise<PendingMessage[]> {
    const messages: PendingMessage[] = [];
    const filter = instanceId === undefined ? undefined : odata`PartitionKey eq ${instanceId}`;
    for await (const entity of this.messages.listEntities<Record<string, unknown>>({
      queryOptions: { filter },
    })) {
      const message: PendingMessage = {
        instanceId: String(entity.partitionKey),
        messageId: String(entity.rowKey),
        kind: String(entity.Kind) as PendingMessage["kind"],
      };
      if (typeof entity.Name === "string") message.name = entity.Name;
      const data = getChunked(entity, "Data");
      if (data !== undefined) message.data = data;
      messages.push(message);
    }
    messages.sort((a, b) => (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0));
    return messages;
  }
}
