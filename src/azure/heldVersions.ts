/**
 * The held-version table (`<AUDIT_TABLE_NAME>Held`): one row per certificate that has a held
 * version (PartitionKey the audit partition key `<vault>|<certificate>`, RowKey {@link HELD_ROW}),
 * written when a rollout of a version fails and removed when that version is verified or retried.
 */
import type { TableClient } from "@azure/data-tables";
import type { CertificateRef } from "../domain/bindings.js";
import type { HeldVersion } from "../domain/heldVersion.js";
import { auditPartitionKey } from "./auditTable.js";
import { describeSdkError } from "./sdkErrors.js";

/** The RowKey of a certificate's hold. */
export const HELD_ROW = "held";

/** A certificate's hold, and the ETag to remove exactly that hold with. */
export interface StoredHold {
  held: HeldVersion;
  etag: string;
}

/** The certificate's hold, if any. Storage errors other than 404 are thrown. */
export async function readHold(table: TableClient, c: CertificateRef): Promise<StoredHold | undefined> {
  try {
    const e = await table.getEntity<HeldVersion>(auditPartitionKey(c), HELD_ROW);
    const { version, state, reason, message, runId, heldAt } = e;
    return { held: { version, state, reason, message, runId, heldAt }, etag: e.etag };
  } catch (error) {
    if (describeSdkError(error, "read").kind === "notFound") return undefined;
    throw error;
  }
}

/** Holds `held` for the certificate (replacing an older hold). Idempotent. */
export async function writeHold(table: TableClient, c: CertificateRef, held: HeldVersion): Promise<void> {
  await table.upsertEntity({ partitionKey: auditPartitionKey(c), rowKey: HELD_ROW, ...held }, "Replace");
}

/**
 * Removes the certificate's hold when it holds `version` (or the exact hold of `etag`); answers
 * whether one was removed. Idempotent: nothing held, or another version held, removes nothing.
 */
export async function releaseHold(
  table: TableClient,
  c: CertificateRef,
  which: { version: string } | { etag: string },
): Promise<boolean> {
  const current = await readHold(table, c);
  if (!current) return false;
  if ("version" in which && current.held.version.toLowerCase() !== which.version.toLowerCase()) return false;
  if ("etag" in which && current.etag !== which.etag) return false;
  try {
    await table.deleteEntity(auditPartitionKey(c), HELD_ROW, { etag: current.etag });
    return true;
  } catch (error) {
    const f = describeSdkError(error, "delete");
    // Removed or replaced meanwhile: that newer state stands.
    if (f.kind === "notFound" || f.status === 412) return false;
    throw error;
  }
}
