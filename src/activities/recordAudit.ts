/**
 * Activity `recordAudit`: upserts the rollout's audit record in Table storage — PartitionKey the
 * certificate (`<vault>|<certificate>`, lower case), RowKey the rollout's run id (the instance id is
 * the certificate's and reused by every rollout of it, so one row per run keeps each rollout's
 * record), the report as JSON (split over columns below the 64 KiB property limit). Idempotent: a
 * retry replaces the same row.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { runIdOf, type RolloutReport } from "../domain/report.js";
import type { RecordAuditInput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Where the audit record was written. */
export interface RecordAuditOutput {
  partitionKey: string;
  rowKey: string;
}

/** Characters of report JSON per column (UTF-16: well below 64 KiB). */
const CHUNK = 30_000;

/** The audit PartitionKey of a certificate. */
export const auditPartitionKey = (c: { vaultName: string; certificateName: string }): string =>
  `${c.vaultName}|${c.certificateName}`.toLowerCase();

/** The audit RowKey of a run id (Table RowKeys may not contain / \ # ? or control characters). */
export const auditRowKey = (runId: string): string =>
  [...runId]
    .map((ch) => {
      const code = ch.charCodeAt(0);
      return "/\\#?".includes(ch) || code < 32 || (code >= 127 && code < 160) ? "_" : ch;
    })
    .join("");

/** The report stored in an audit entity (joins the report columns). */
export function reportOf(entity: Record<string, unknown>): RolloutReport {
  const parts: string[] = [];
  for (let i = 0; typeof entity[`report${i}`] === "string"; i++) parts.push(entity[`report${i}`] as string);
  return JSON.parse(parts.join("")) as RolloutReport;
}

/** Upserts the audit row of one rollout. */
export async function recordAuditHandler(
  input: RecordAuditInput,
  context: InvocationContext,
): Promise<RecordAuditOutput> {
  const r = input.report;
  const runId = runIdOf(r);
  const table = await composition().auditTable();
  const json = JSON.stringify(r);
  const columns: Record<string, string> = {};
  for (let i = 0; i * CHUNK < json.length; i++)
    columns[`report${i}`] = json.slice(i * CHUNK, (i + 1) * CHUNK);
  const entity = {
    partitionKey: auditPartitionKey(r.certificate),
    rowKey: auditRowKey(runId),
    instanceId: r.instanceId,
    runId,
    vaultName: r.certificate.vaultName,
    certificateName: r.certificate.certificateName,
    trigger: r.trigger.kind,
    dryRun: r.dryRun,
    startedAt: r.startedAt,
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
    state: r.outcome?.state ?? "Running",
    ...(r.outcome ? { reason: r.outcome.reason } : {}),
    ...(r.versions.previous?.version ? { previousVersion: r.versions.previous.version } : {}),
    ...(r.versions.next?.version ? { newVersion: r.versions.next.version } : {}),
    ...columns,
  };
  try {
    await table.upsertEntity(entity, "Replace");
    context.log(`recordAudit: ${entity.partitionKey}/${entity.rowKey} ${entity.state}.`);
    return { partitionKey: entity.partitionKey, rowKey: entity.rowKey };
  } catch (e) {
    const f = describeSdkError(e, `Recording the audit of ${runId}`);
    context.warn(`recordAudit: ${f.message}`);
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `recordAudit(input)`. */
export const recordAudit: TypedActivity<RecordAuditInput, RecordAuditOutput> = df.app.activity(
  "recordAudit",
  {
    handler: recordAuditHandler,
  },
);
