/**
 * Activity `recordHold`: what a finished rollout means for its certificate's held version (see
 * `src/domain/heldVersion.ts`): a failed rollout of a version holds it, a verified one releases it.
 * Idempotent: a retry writes or removes the same row.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { releaseHold, writeHold } from "../azure/heldVersions.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { holdChange, type HoldChange } from "../domain/heldVersion.js";
import { runIdOf } from "../domain/report.js";
import type { RecordAuditInput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Input of `recordHold`: the final report. */
export type RecordHoldInput = RecordAuditInput;

/** Applies the hold change of a finished rollout; answers it. Storage errors are retriable. */
export async function recordHoldHandler(
  input: RecordHoldInput,
  context: InvocationContext,
): Promise<HoldChange["action"]> {
  const change = holdChange(input.report);
  if (change.action === "none") return "none";
  const certificate = input.report.certificate;
  try {
    const table = await composition().heldTable();
    if (change.action === "hold") await writeHold(table, certificate, change.held);
    else await releaseHold(table, certificate, { version: change.version });
  } catch (e) {
    const f = describeSdkError(e, `Recording the held version of ${runIdOf(input.report)}`);
    context.warn(`recordHold: ${f.message}`);
    throw retriable(f);
  }
  context.log(`recordHold: ${runIdOf(input.report)}: ${change.action}.`);
  return change.action;
}

/** The registered activity; `rotateCertificate` yields it after the audit record. */
export const recordHold: TypedActivity<RecordHoldInput, HoldChange["action"]> = df.app.activity(
  "recordHold",
  {
    handler: recordHoldHandler,
  },
);
