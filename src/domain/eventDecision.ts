/**
 * What a Key Vault certificate event leads to, decided from the certificate's rotation instance
 * (running, or the last one that ended) and, for a new version, Key Vault's creation times: start a
 * rollout, skip a duplicate or stale delivery, or fail the delivery so Event Grid retries. Pure.
 */
import { heldSentence, holding, type HeldVersion } from "./heldVersion.js";
import type { CertificateEvent } from "./keyVaultEvent.js";
import { runIdOf } from "./report.js";
import { inputOf, isRunning, reportOf, type InstanceStatus } from "./rolloutInstance.js";

/** The trigger detail recorded for an event; carries the event id so a redelivery is recognised. */
export const eventTriggerDetail = (e: Pick<CertificateEvent, "kind" | "eventId" | "version">): string =>
  `${e.kind} for version ${e.version} (event ${e.eventId})`;

/** What a Key Vault event leads to. */
export type EventDecision =
  | { action: "start" }
  /** Nothing starts, rightly: the reason says why. */
  | { action: "skip"; reason: string }
  /** Nothing can start now, but the event must not be lost: fail the delivery so Event Grid retries. */
  | { action: "redeliver"; reason: string };

const sameVersion = (a: string | undefined, b: string) =>
  a !== undefined && a.toLowerCase() === b.toLowerCase();

/**
 * How the rollout of `status` (read with `showInput`) replaces `version`, or undefined when it
 * does not (or cannot be known to): a dry run replaces nothing; a rollout of another known version
 * replaces it; a renewal (near expiry, expired, manual renew) replaces it with the version it
 * creates. A rollout of "the current version" before it has read which one that is does not count.
 */
export function replacesVersion(status: InstanceStatus, version: string): string | undefined {
  const report = reportOf(status);
  const request = inputOf(status)?.request;
  if (report?.dryRun || (request?.kind === "manual" && request.dryRun)) return undefined;
  const next = report?.versions.next?.version;
  if (next !== undefined) return sameVersion(next, version) ? undefined : `it rolls out version ${next}`;
  if (!request) return undefined;
  if (request.kind === "event") {
    if (request.event.kind !== "CertificateNewVersionCreated")
      return `it renews the certificate (${request.event.kind} for version ${request.event.version})`;
    return sameVersion(request.event.version, version)
      ? undefined
      : `it rolls out version ${request.event.version}`;
  }
  if (request.kind === "manual" && request.renew) return "it renews the certificate in Key Vault";
  const named = request.version;
  return named !== undefined && !sameVersion(named, version) ? `it rolls out version ${named}` : undefined;
}

/**
 * What a Key Vault event leads to, from the certificate's rotation instance (running, or the last
 * one that ended; read with `showInput`):
 * - a rollout is running: a NewVersionCreated is skipped (of the version it renewed: our own
 *   renewal; otherwise the drift scan catches what it misses); a NearExpiry/Expired is skipped only
 *   when the running rollout replaces the expiring version, and is otherwise redelivered — dropping
 *   it could let the certificate expire;
 * - the last rollout was started by this very event (a redelivery): skipped;
 * - NewVersionCreated: skipped when the last rollout already rolled out that version, or succeeded
 *   after the event was sent (the event is older than what is deployed: out of order);
 * - NearExpiry/Expired: skipped when the last rollout succeeded in replacing the expiring version.
 */
export function decideEvent(
  e: Pick<CertificateEvent, "kind" | "eventId" | "version" | "eventTime">,
  status: InstanceStatus | undefined,
): EventDecision {
  if (!status) return { action: "start" };
  const report = reportOf(status);
  const skip = (reason: string): EventDecision => ({ action: "skip", reason });
  if (isRunning(status)) {
    const running = `rollout ${report ? runIdOf(report) : status.instanceId} of this certificate is running (${String(status.runtimeStatus)})`;
    if (e.kind === "CertificateNewVersionCreated")
      return skip(
        sameVersion(report?.versions.next?.version, e.version)
          ? `version ${e.version} is the one ${running.replace(/ of this certificate/, "")} rolls out (our own renewal); nothing new starts.`
          : `${running}; nothing new starts (the drift scan catches anything it misses).`,
      );
    const replacing = replacesVersion(status, e.version);
    return replacing
      ? skip(`${running} and replaces version ${e.version}: ${replacing}; nothing new starts.`)
      : {
          action: "redeliver",
          reason: `${running} and does not replace the ${e.kind === "CertificateExpired" ? "expired" : "expiring"} version ${e.version}; failing the delivery so Event Grid delivers it again after that rollout.`,
        };
  }
  if (!report) return { action: "start" };
  if (report.trigger.requestId === e.eventId || report.trigger.detail.includes(`(event ${e.eventId})`))
    return skip(
      `event ${e.eventId} was delivered again; rollout ${runIdOf(report)} already handled it (${report.outcome?.state ?? "ended"}).`,
    );
  const succeeded = report.outcome?.state === "Succeeded" && !report.dryRun;
  if (e.kind === "CertificateNewVersionCreated") {
    if (sameVersion(report.versions.next?.version, e.version))
      return skip(
        `version ${e.version} was already rolled out by ${runIdOf(report)} (${report.outcome?.state ?? "ended"}).`,
      );
    if (succeeded && new Date(report.startedAt).getTime() >= e.eventTime.getTime())
      return skip(
        `the event (sent ${e.eventTime.toISOString()}) is older than the last successful rollout (started ${report.startedAt}, version ${report.versions.next?.version ?? "unknown"}): out of order.`,
      );
    return { action: "start" };
  }
  const next = report.versions.next?.version;
  if (succeeded && next !== undefined && !sameVersion(next, e.version))
    return skip(`version ${e.version} was already replaced by version ${next} (rollout ${runIdOf(report)}).`);
  if (succeeded && sameVersion(report.versions.previous?.version, e.version))
    return skip(`version ${e.version} was already replaced (rollout ${runIdOf(report)}).`);
  return { action: "start" };
}

/** A certificate version and when Key Vault created it. */
export interface VersionCreated {
  version: string;
  createdOn?: Date;
}

/**
 * Why a NewVersionCreated for `event` must start nothing because the vault's `current` version was
 * created after it (the event is late, whatever order events arrived in or how the last rollout
 * ended), or undefined. Compares Key Vault's creation times, never event times. Pure.
 */
export function olderThanCurrent(event: VersionCreated, current: VersionCreated): string | undefined {
  if (sameVersion(current.version, event.version)) return undefined;
  if (!event.createdOn || !current.createdOn) return undefined;
  return current.createdOn.getTime() > event.createdOn.getTime()
    ? `version ${event.version} (created ${event.createdOn.toISOString()}) is older than the vault's current version ${current.version} (created ${current.createdOn.toISOString()}); it is not rolled out.`
    : undefined;
}

/**
 * Why a NewVersionCreated must start nothing because its version is held (its last rollout ended
 * RolledBack, Rejected or NeedsAttention), or undefined. Pure.
 */
export function heldEventVersion(
  e: Pick<CertificateEvent, "kind" | "vaultName" | "certificateName" | "version">,
  held: HeldVersion | undefined,
): string | undefined {
  if (e.kind !== "CertificateNewVersionCreated") return undefined;
  const h = holding(held, e.version);
  return h ? heldSentence({ vaultName: e.vaultName, certificateName: e.certificateName }, h) : undefined;
}
