/**
 * `GET /api/certificates`: each certificate, its expiry, its bindings and what each serves now,
 * from one report-only drift scan under a fixed instance id shared by every caller. Pure.
 */
import type { DriftScanOutput } from "../orchestrations/driftScan.js";
import { isRunning, type InstanceStatus } from "./rolloutInstance.js";

/** The inventory scan's instance id: one at a time, shared by every caller. */
export const INVENTORY_INSTANCE_ID = "inventory";

/** A completed inventory younger than this is answered as is (`?fresh=true` asks for a new scan). */
export const INVENTORY_MAX_AGE_MS = 5 * 60_000;

/**
 * Whether the inventory scan whose status is given can answer this request: a running scan, or a
 * completed one younger than {@link INVENTORY_MAX_AGE_MS} unless the caller asked for a fresh one.
 */
export function inventoryReusable(
  status: (InstanceStatus & { lastUpdatedTime: Date | string }) | undefined,
  now: Date,
  fresh: boolean,
): boolean {
  if (!status) return false;
  const age = now.getTime() - new Date(status.lastUpdatedTime).getTime();
  return (
    isRunning(status) ||
    (String(status.runtimeStatus) === "Completed" && age < INVENTORY_MAX_AGE_MS && !fresh)
  );
}

/** The inventory view of a report-only scan. */
export function inventoryOf(scan: DriftScanOutput) {
  return {
    scannedAt: scan.finishedAt,
    warnings: scan.warnings,
    ignored: scan.ignored ?? [],
    certificates: scan.certificates.map((c) => ({
      vaultName: c.certificate.vaultName,
      certificateName: c.certificate.certificateName,
      currentVersion: c.vault?.version,
      thumbprint: c.vault?.thumbprint,
      expiresOn: c.vault?.expiresOn,
      ...(c.failure ? { failure: c.failure } : {}),
      bindings: c.bindings.map((b) => ({
        bindingId: b.bindingId,
        stage: b.stage,
        description: b.description,
        configured: b.observation?.configured,
        serves: b.observation?.served,
        drift: b.verdict
          ? { classification: b.verdict.classification, message: b.verdict.message }
          : undefined,
      })),
    })),
  };
}
