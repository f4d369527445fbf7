/**
 * Activity `recordAudit`: Upserts the rollout's audit record in Table storage.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { RecordAuditInput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Where the audit record was written. */
export interface RecordAuditOutput {
  partitionKey: string;
  rowKey: string;
}

/** Upserts the rollout's audit record in Table storage. */
export async function recordAuditHandler(
  input: RecordAuditInput,
  context: InvocationContext,
): Promise<RecordAuditOutput> {
  void input;
  void context;
  throw new Error("recordAudit is not implemented yet.");
}

/** The registered activity; orchestrators yield `recordAudit(input)`. */
export const recordAudit: TypedActivity<RecordAuditInput, RecordAuditOutput> = df.app.activity(
  "recordAudit",
  { handler: recordAuditHandler },
);
