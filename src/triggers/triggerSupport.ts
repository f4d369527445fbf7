/**
 * What the thin triggers share: the configuration (validated once), reading an orchestration's
 * status without mistaking "no such instance" for an error, the live report of a rollout (the
 * rotation's custom status merged with its running stage's), and the decision whether a Key Vault
 * event is a duplicate or stale delivery that must start nothing.
 */
import type { DurableClient, DurableOrchestrationStatus } from "durable-functions";
import { loadConfig, scaledSeconds, type Config } from "../config.js";
import type { CertificateEvent } from "../domain/keyVaultEvent.js";
import { stageInstanceId } from "../domain/instanceIds.js";
import { runIdOf, type ReportStage, type ReportTarget, type RolloutReport } from "../domain/report.js";
import type { ApimChangeStatus } from "../orchestrations/apimChange.js";
import type { RotationInput } from "../orchestrations/policy.js";

let cached: Config | undefined;

/** The app's configuration, read from the environment once. Throws a ConfigurationError naming the setting. */
export function appConfig(): Config {
  cached ??= loadConfig(process.env);
  return cached;
}

/** Forgets the cached configuration (tests that change settings between hosts in one process). */
export function resetAppConfig(): void {
  cached = undefined;
}

/** Runtime statuses of an instance that still runs. */
export const RUNNING_STATUSES: ReadonlySet<string> = new Set([
  "Running",
  "Pending",
  "ContinuedAsNew",
  "Suspended",
]);

/** Whether a status is of a running instance. */
export const isRunning = (status: DurableOrchestrationStatus | undefined): boolean =>
  status !== undefined && RUNNING_STATUSES.has(String(status.runtimeStatus));

/** The status of an instance, or undefined when there is none (other errors are thrown). */
export async function findStatus(
  client: DurableClient,
  instanceId: string,
  options: { showInput?: boolean } = {},
): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput: options.showInput ?? false });
  } catch (error) {
    if (error instanceof Error && /HTTP 404/.test(error.message)) return undefined;
    throw error;
  }
}

/** Whether the instance whose status (read with `showInput`) is given runs the request `requestId`. */
export type StartConfirmation =
  | { ours: true; status: DurableOrchestrationStatus }
  /** Another request's rollout has the instance: `by` names it (run id or instance, trigger). */
  | { ours: false; by: string; status: DurableOrchestrationStatus };

/** The input of a rotation instance, when its status was read with `showInput`. */
export const inputOf = (status: DurableOrchestrationStatus): Partial<RotationInput> | undefined => {
  const input = status.input as Partial<RotationInput> | string | null | undefined;
  return input && typeof input === "object" ? input : undefined;
};

/** A rollout named for a log line: its run id when it has reported, its trigger. */
export function describeRun(status: DurableOrchestrationStatus): string {
  const report = reportOf(status);
  const trigger = inputOf(status)?.trigger ?? report?.trigger;
  const name = report ? runIdOf(report) : `${status.instanceId} (created ${String(status.createdTime)})`;
  return `${name}${trigger ? ` [${trigger.kind}: ${trigger.detail}]` : ""} (${String(status.runtimeStatus)})`;
}

/** Whether `status` (read with `showInput`) is the rollout started for `requestId`. Pure. */
export function startedBy(status: DurableOrchestrationStatus, requestId: string): StartConfirmation {
  return inputOf(status)?.trigger?.requestId === requestId
    ? { ours: true, status }
    : { ours: false, by: describeRun(status), status };
}

/** How long a trigger waits for the instance it started to leave Pending before judging whose it is. */
export const START_CONFIRM_TIMEOUT_MS = 10_000;

/**
 * After `startNew`: reads the instance with its input until it has left Pending (or the timeout
 * passed) and tells whether the rollout it runs is this request's. The singleton check before
 * `startNew` is not atomic on Azure Storage: two concurrent starts can both return while only one
 * instance runs, so each starter confirms instead of assuming. Errors other than 404 are thrown.
 */
export async function confirmStart(
  client: DurableClient,
  instanceId: string,
  requestId: string,
  timeoutMs = START_CONFIRM_TIMEOUT_MS,
): Promise<StartConfirmation> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await findStatus(client, instanceId, { showInput: true });
    const late = Date.now() >= deadline;
    if (status && (String(status.runtimeStatus) !== "Pending" || late)) return startedBy(status, requestId);
    if (late) throw new Error(`Instance ${instanceId} was started, but no status of it can be read.`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Vault names allowed by `ALLOWED_VAULT_URLS` (the first label of each vault host). */
export function allowedVaultNames(config: Config): string[] {
  return config.allowedVaultUrls.map((u) => new URL(u).hostname.split(".")[0] ?? "").filter(Boolean);
}

/** Whether a vault name or URL is one of the allowed vaults; answers its name when it is. */
export function allowedVault(config: Config, vault: string): string | undefined {
  const v = vault.trim().toLowerCase();
  const byUrl = config.allowedVaultUrls.find((u) => {
    try {
      return new URL(v).origin.toLowerCase() === u;
    } catch {
      return false;
    }
  });
  if (byUrl) return new URL(byUrl).hostname.split(".")[0];
  return allowedVaultNames(config).find((n) => n.toLowerCase() === v);
}

/** The rotation's report from its status: the output when it ended, else the live custom status. */
export function reportOf(status: DurableOrchestrationStatus | undefined): RolloutReport | undefined {
  if (!status) return undefined;
  const candidate = (isRunning(status) ? status.customStatus : (status.output ?? status.customStatus)) as
    RolloutReport | undefined | null;
  return candidate && typeof candidate === "object" && "instanceId" in candidate ? candidate : undefined;
}

/**
 * The live report of a rotation: its own custom status, with the stage that is running replaced by
 * that stage's live view (per-target progress while the stage applies and probes).
 */
export async function liveReport(
  client: DurableClient,
  instanceId: string,
): Promise<RolloutReport | undefined> {
  const status = await findStatus(client, instanceId);
  const report = reportOf(status);
  if (!report || !isRunning(status)) return report;
  const version = report.versions.next?.version;
  const running = report.stages.find((s) => s.status === "pending");
  if (!version || !running) return report;
  const stageStatus = await findStatus(
    client,
    stageInstanceId(instanceId, version, running.index, running.stage),
  );
  const live = stageStatus?.customStatus as LiveStage | undefined | null;
  if (!live || typeof live !== "object" || !("targets" in live)) return report;
  const { apimQueues, ...stage } = live;
  const shown = apimQueues?.length ? await withQueues(client, stage, apimQueues) : stage;
  return { ...report, stages: report.stages.map((s) => (s.index === running.index ? shown : s)) };
}

/** A running stage's custom status: its view, and where its APIM changes wait while it writes. */
type LiveStage = ReportStage & { apimQueues?: { stepId: string; instanceId: string }[] };

/** The stage with each pending APIM target's place in its service's queue (from its `apimChange` instance). */
async function withQueues(
  client: DurableClient,
  stage: ReportStage,
  queues: { stepId: string; instanceId: string }[],
): Promise<ReportStage> {
  const found = new Map<string, NonNullable<ReportTarget["queue"]>>();
  for (const q of queues.slice(0, 8)) {
    if (!stage.targets.some((t) => t.stepId === q.stepId && t.status === "pending")) continue;
    const status = (await findStatus(client, q.instanceId))?.customStatus as Partial<ApimChangeStatus> | null;
    if (!status || typeof status !== "object" || !status.state) continue;
    found.set(q.stepId, {
      state: status.state,
      ...(status.heldBy ? { heldBy: status.heldBy } : {}),
      updatesSent: status.updatesSent ?? 0,
    });
  }
  if (!found.size) return stage;
  return {
    ...stage,
    targets: stage.targets.map((t) => {
      const queue = found.get(t.stepId);
      return queue ? { ...t, queue } : t;
    }),
  };
}

/** The running stage instances of a rotation (to pass a cancel on to them). */
export function runningStageIds(report: RolloutReport): string[] {
  const version = report.versions.next?.version;
  if (!version) return [];
  return report.stages
    .filter((s) => s.status === "pending")
    .map((s) => stageInstanceId(report.instanceId, version, s.index, s.stage));
}

/** How far behind the invocation a timer's `scheduleStatus.last` may be and still be this run's occurrence. */
const OCCURRENCE_SLACK_MS = 5 * 60_000;

/**
 * The schedule occurrence a timer invocation runs for: `scheduleStatus.last` (the host records the
 * occurrence it is running there) when the run is past due or that time is within a few minutes of
 * the invocation, else the invocation time `now` (a run started by hand through the admin API
 * carries the previous occurrence). Two hosts firing for one occurrence thus name the same time,
 * whatever second each started in. Pure.
 */
export function scheduledOccurrence(timer: unknown, now: Date): Date {
  const t = (timer ?? {}) as { isPastDue?: unknown; scheduleStatus?: { last?: unknown } | null };
  const last = typeof t.scheduleStatus?.last === "string" ? new Date(t.scheduleStatus.last) : undefined;
  if (!last || Number.isNaN(last.getTime()) || last.getTime() > now.getTime() + 60_000) return now;
  return t.isPastDue === true || now.getTime() - last.getTime() <= OCCURRENCE_SLACK_MS ? last : now;
}

/** Seconds of drift jitter to wait, drawn by the timer trigger (orchestrators cannot draw randomness). */
export const drawJitterSeconds = (config: Config, random: number): number =>
  Math.floor(random * scaledSeconds(config, config.drift.jitterSeconds));

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
export function replacesVersion(status: DurableOrchestrationStatus, version: string): string | undefined {
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
  status: DurableOrchestrationStatus | undefined,
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
