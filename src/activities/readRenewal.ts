/**
 * Activity `readRenewal`: the state of the certificate's pending create operation.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { pendingStatus } from "./startRenewal.js";
import type { ReadRenewalInput, ReadRenewalOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Reads the pending operation: in progress, completed (with the new version), failed, cancelled or none. */
export async function readRenewalHandler(
  input: ReadRenewalInput,
  context: InvocationContext,
): Promise<ReadRenewalOutput> {
  const c = composition();
  const what = `${input.vaultName}/${input.certificateName}`;
  const vaultUrl = c.vaultUrl(input.vaultName);
  if (!vaultUrl) {
    return {
      status: "failed",
      reason: "VaultNotAllowed",
      message: `Vault ${input.vaultName} is not listed in ALLOWED_VAULT_URLS.`,
    };
  }
  const client = c.certificateClient(vaultUrl);
  try {
    const pending = await pendingStatus(client, input.certificateName);
    if (pending === "inProgress") return { status: "inProgress" };
    const current = await client.getCertificate(input.certificateName).catch((e: unknown) => {
      if (describeSdkError(e, "read").kind === "notFound") return undefined;
      throw e;
    });
    const version = current?.properties.version;
    if (pending === "none") return { status: "none", ...(version ? { version } : {}) };
    const status = (pending.status ?? "").toLowerCase();
    if (status === "completed" && version) {
      context.log(`readRenewal: ${what} completed as version ${version}.`);
      return { status: "completed", version };
    }
    if (status === "cancelled") {
      return {
        status: "cancelled",
        reason: "RenewalCancelled",
        message: `The renewal of ${what} was cancelled.`,
      };
    }
    return {
      status: "failed",
      reason: pending.error?.code ?? "RenewalFailed",
      message: `The renewal of ${what} ended with status ${pending.status ?? "unknown"}${pending.error?.code ? ` (${pending.error.code})` : ""}.`,
    };
  } catch (e) {
    const f = describeSdkError(e, `Reading the renewal of ${what}`);
    context.warn(`readRenewal: ${f.message}`);
    if (f.kind === "notFound" || f.kind === "permanent")
      return { status: "failed", reason: f.code ?? "RenewalUnreadable", message: f.message };
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `readRenewal(input)`. */
export const readRenewal: TypedActivity<ReadRenewalInput, ReadRenewalOutput> = df.app.activity(
  "readRenewal",
  {
    handler: readRenewalHandler,
  },
);
