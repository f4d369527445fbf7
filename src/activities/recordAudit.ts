/**
 * Activity `recordAudit`: upserts the rollout's audit record in Table storage (one row per run; see
 * `src/azure/auditTable.ts` for its keys and columns). Idempotent: a retry replaces the same row.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { writeAudit } from "../azure/auditTable.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { runIdOf } from "../domain/report.js";
import type { RecordAuditInput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Where the audit record was written. */
export interface RecordAuditOutput {
  partitionKey: string;
  rowKey: string;
}

/** Upserts the audit row of one rollout. */
export async function recordAuditHandler(
  input: RecordAuditInput,
  context: InvocationContext,
): Promise<RecordAuditOutput> {
  const table = await composition().auditTable();
  try {
    const row = await writeAudit(table, input.report);
    context.log(`recordAudit: ${row.partitionKey}/${row.rowKey} ${row.state}.`);
    return { partitionKey: row.partitionKey, rowKey: row.rowKey };
  } catch (e) {
    const f = describeSdkError(e, `Recording the audit of ${runIdOf(input.report)}`);
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
