/**
 * The reasons and sentences the orchestrations answer with, in one place: each reason is a machine
 * code plus a human message that names the values involved (the same pair goes to the report, the
 * custom status, logs and HTTP output). Sentences without a code (why a new version could not be
 * had, a cancel heard too late) live here too. Pure: no clock, no I/O; never a secret in a message
 * (activities never throw one, and only references travel through orchestrations).
 *
 * The reasons of pure checks stay with their checks (preflight, drift, rollback planning).
 */
import type { Reasoned } from "./rollback.js";

/** The reason codes orchestrations give on their own account. */
export type OrchestrationReason =
  | "ActivityFailed"
  | "Busy"
  | "Cancelled"
  | "DeploymentFailed"
  | "DeploymentTimeout"
  | "DiscoveryIncomplete"
  | "LeaseLost"
  | "ProbeDeadlineExceeded"
  | "ProvisioningFailed"
  | "ProvisioningTimeout"
  | "RenewalFailed"
  | "ResourceLocked"
  | "RestoreOrchestrationFailed"
  | "RollbackFailed"
  | "RollbackNotVerified"
  | "ScanFailed"
  | "StageOrchestrationFailed"
  | "TargetOrchestrationFailed"
  | "Timeout"
  | "UnknownTargets";

/** A reason of this module with its message. */
export interface Reason extends Reasoned {
  reason: OrchestrationReason;
}

/** A certificate as messages name it. */
interface Named {
  vaultName: string;
  certificateName: string;
}

const named = (c: Named) => `${c.vaultName}/${c.certificateName}`;
const seconds = (s: number) => `${Math.round(s)} s`;
const withoutStop = (what: string) => what.replace(/\.$/, "");

// ---------------------------------------------------------------------------------------------
// Failures of activities and sub-orchestrations

/** The first line of an error's message (at most 400 characters): no stack, no secret. */
export function firstLineOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]?.slice(0, 400) ?? "";
}

/** A sentence for an activity failure, without its stack (and never a secret: activities never throw one). */
export function errorSentence(error: unknown, what: string): string {
  return `${withoutStop(what)} failed after every retry: ${firstLineOf(error)}`;
}

/** Every automatic retry of an activity threw while doing `what`. */
export const activityFailed = (error: unknown, what: string): Reason => ({
  reason: "ActivityFailed",
  message: errorSentence(error, what),
});

/** A stage's sub-orchestration itself failed (it catches its targets' failures: a bug or a crash). */
export const stageOrchestrationFailed = (stageIndex: number, error: unknown): Reason => ({
  reason: "StageOrchestrationFailed",
  message: errorSentence(error, `Stage ${stageIndex}`),
});

/** A target's sub-orchestration itself failed (it catches activity failures: a bug or a crash). */
export const targetOrchestrationFailed = (error: unknown, description: string): Reason => ({
  reason: "TargetOrchestrationFailed",
  message: errorSentence(error, description),
});

/** A restore sub-orchestration itself failed. */
export const restoreOrchestrationFailed = (error: unknown, stepId: string): Reason => ({
  reason: "RestoreOrchestrationFailed",
  message: errorSentence(error, `Rolling back ${stepId}`),
});

/** The rollback sub-orchestration itself failed. */
export const rollbackFailed = (error: unknown): Reason => ({
  reason: "RollbackFailed",
  message: errorSentence(error, "The rollback"),
});

/** Scanning (one certificate, or the whole sweep) failed. */
export const scanFailed = (error: unknown, what: string): Reason => ({
  reason: "ScanFailed",
  message: errorSentence(error, what),
});

// ---------------------------------------------------------------------------------------------
// Cancel

/** A "cancel" event ended the rollout (or the step, stage or wait it reached). */
export const CANCELLED: Readonly<Reason> = {
  reason: "Cancelled",
  message: "The rollout was cancelled on request.",
};

/** Appended to a Succeeded outcome when a cancel arrived after the last stage was verified. */
export const CANCEL_TOO_LATE = "Cancel arrived too late: already Succeeded (every stage had been verified).";

// ---------------------------------------------------------------------------------------------
// Resolving the bindings

/** Binding discovery still had unread scopes after every read: nothing is touched. */
export function discoveryIncomplete(o: {
  certificate: Named;
  attempts: number;
  found: number;
  warnings: readonly Reasoned[];
}): Reason {
  return {
    reason: "DiscoveryIncomplete",
    message: `Binding discovery of ${named(o.certificate)} stayed incomplete after ${o.attempts} reads (${o.found} binding(s) found, others may be hidden); nothing was changed. ${o.warnings.map((w) => `${w.reason}: ${w.message}`).join(" ")}`,
  };
}

/** A manual or drift rollout named targets no binding matches. */
export const unknownTargets = (certificate: Named, unmatched: readonly string[]): Reason => ({
  reason: "UnknownTargets",
  message: `No binding of ${named(certificate)} matches ${unmatched.join(", ")}.`,
});

// ---------------------------------------------------------------------------------------------
// Getting the new version (messages of the outcome's `newVersion`)

/** Why no new version could be had, in words. */
export const newVersionSentences = {
  /** A version (named, current or renewed) could not be read. */
  unreadable: (what: string, message: string) => `${what}: ${message}`,
  /** Key Vault refused to renew. */
  notRenewable: (reason: string, message: string) => `${reason}: ${message}`,
  /** Key Vault answered busy to the renewal request until its deadline. */
  keyVaultBusy: (message: string) => `Key Vault stayed busy: ${message}`,
  cancelledWhileRenewing: "Cancelled while renewing.",
  cancelledAwaitingRenewal: "Cancelled while waiting for the renewal.",
  cancelledAwaitingNewVersion: "Cancelled while waiting for a new version.",
  /** The renewal was still pending at its deadline. */
  renewalNotDone: (certificate: Named, deadlineSeconds: number) =>
    `The renewal of ${named(certificate)} did not complete within ${seconds(deadlineSeconds)}.`,
  /** An external issuer made no new version before the deadline. */
  noneAppeared: (o: {
    certificate: Named;
    deadlineSeconds: number;
    issuerName: string;
    version: string;
    expiresOn: string | undefined;
  }) =>
    `No new version of ${named(o.certificate)} appeared within ${seconds(o.deadlineSeconds)} (issuer ${o.issuerName} is not one Key Vault renews by itself); version ${o.version} still expires at ${o.expiresOn ?? "an unknown time"}.`,
  /** A dry run asked to renew: what a rollout would have renewed, and where it would go. */
  wouldRenew: (o: {
    certificate: Named;
    current: { version: string; issuerName: string; issuerKind: string; expiresOn?: string };
    targets: readonly string[];
  }) =>
    `Dry run: would renew ${named(o.certificate)} (current version ${o.current.version}, expires ${o.current.expiresOn ?? "at an unknown time"}) ${o.current.issuerKind === "Unknown" ? `by waiting for issuer ${o.current.issuerName} to create a new version` : `in Key Vault with issuer ${o.current.issuerName}`}, then roll the new version out to ${o.targets.length} target(s): ${o.targets.join(", ")}. Nothing was renewed or changed.`,
  /** A new version appeared but its public data was missing. */
  appearedUnreadable: "The new version could not be read.",
} as const;

// ---------------------------------------------------------------------------------------------
// Waits (pollUntil) and busy writes

/** A wait's condition did not hold by its deadline. */
export const waitTimedOut = (describe: string, deadline: string): Reason => ({
  reason: "Timeout",
  message: `${describe}: not done by ${deadline}.`,
});

/** A wait stopped on a "cancel" event. */
export const waitCancelled = (describe: string): Reason => ({
  reason: "Cancelled",
  message: `${describe}: cancelled on request.`,
});

/** A cancel had arrived before a wait could start. */
export const waitCancelledBeforeStart = (describe: string): Reason => ({
  reason: "Cancelled",
  message: `${describe}: cancelled on request before the wait began.`,
});

/** The evidence detail of a probe whose activity threw after every retry. */
export function probingFailedDetail(error: unknown): string {
  const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
  return `Probing failed after every retry: ${message?.slice(0, 300) ?? ""}`;
}

/** A write stayed busy through its attempts or past its deadline (the `message` of a busy timeout). */
export const stayedBusy = (o: {
  describe: string;
  attempts: number;
  elapsedSeconds: number;
  last?: string;
}) =>
  `${withoutStop(o.describe)}: the target stayed busy through ${o.attempts} attempt(s) over ${seconds(o.elapsedSeconds)}; last answer: ${o.last ?? "busy"}`;

/** A cancel arrived while a write waited for its busy target. */
export const cancelledWhileBusy = (describe: string) =>
  `${withoutStop(describe)}: cancelled while the target was busy.`;

/** A write that stayed busy, as a failure. */
export const busy = (message: string): Reason => ({ reason: "Busy", message });

/** The lease on a resource passed to another holder: nothing more is written. */
export const leaseLost = (describe: string, heldBy: string): Reason => ({
  reason: "LeaseLost",
  message: `The lease on ${describe} expired and is now held by ${heldBy}; nothing more was written.`,
});

// ---------------------------------------------------------------------------------------------
// Targets: readiness, deadlines

/** A Front Door custom domain ended its update failed. */
export const deploymentFailed = (domain: {
  name: string;
  provisioningState: string;
  deploymentStatus: string;
}): Reason => ({
  reason: "DeploymentFailed",
  message: `Front Door custom domain ${domain.name} ended its update with provisioning ${domain.provisioningState}, deployment ${domain.deploymentStatus}.`,
});

/** An APIM service ended its update failed. */
export const provisioningFailed = (serviceId: string): Reason => ({
  reason: "ProvisioningFailed",
  message: `APIM service ${serviceId} ended its update in state Failed.`,
});

/** Key Vault's renewal operation failed or was cancelled. */
export const renewalFailed = (renewal: { status: string } & Reasoned): Reason => ({
  reason: "RenewalFailed",
  message: `The renewal ${renewal.status}: ${renewal.reason}: ${renewal.message}`,
});

/** Key Vault has no pending renewal and no version other than the one renewed from. */
export const renewalVanished: Readonly<Reason> = {
  reason: "RenewalFailed",
  message: "Key Vault has no pending renewal and reported no new version.",
};

/** A Front Door profile had not deployed the new secret by the stage's deadline. */
export const frontDoorNotDeployed = (o: {
  profileId: string;
  deadlineSeconds: number;
  state?: string;
}): Reason => ({
  reason: "DeploymentTimeout",
  message: `Front Door profile ${o.profileId} had not deployed the new secret after ${seconds(o.deadlineSeconds)} (${o.state ?? "no state"}).`,
});

/** A Front Door profile had not deployed its rollback by the deadline. */
export const frontDoorNotRestored = (o: {
  profileId: string;
  deadlineSeconds: number;
  state?: string;
}): Reason => ({
  reason: "DeploymentTimeout",
  message: `Front Door profile ${o.profileId} had not taken the rollback after ${seconds(o.deadlineSeconds)} (${o.state ?? "no state"}).`,
});

/** An APIM update this instance sent had not provisioned by its deadline. */
export const apimNotProvisioned = (o: {
  serviceId: string;
  deadlineSeconds: number;
  state?: string;
}): Reason => ({
  reason: "ProvisioningTimeout",
  message: `APIM service ${o.serviceId} was still ${o.state ?? "updating"} after ${seconds(o.deadlineSeconds)}.`,
});

/** Another instance held an APIM service past this change's wait deadline. */
export const resourceLocked = (o: { serviceId: string; heldBy: string; waitSeconds: number }): Reason => ({
  reason: "ResourceLocked",
  message: `${o.serviceId} stayed locked by ${o.heldBy} for ${seconds(o.waitSeconds)}.`,
});

/** A step of an APIM update (send, wait, settle) threw after every retry. */
export const apimUpdateFailed = (o: { round: number; serviceId: string; error: unknown }): Reason => ({
  reason: "ActivityFailed",
  message: `APIM update ${o.round} of ${o.serviceId} failed after every retry: ${firstLineOf(o.error)}`,
});

/** What a probe saw, as far as messages need it. */
interface Seen {
  hostName: string;
  servedThumbprint?: string;
  detail?: string;
}

/** A stage's endpoints did not all serve the new leaf by its deadline. */
export function probeDeadlineExceeded(o: {
  stageIndex: number;
  stage: string;
  deadlineSeconds: number;
  failing: readonly Seen[];
}): Reason {
  const seen = o.failing
    .map(
      (e) =>
        `${e.hostName} ${e.servedThumbprint ? `still served ${e.servedThumbprint}` : "failed"}${e.detail ? ` (${e.detail})` : ""}`,
    )
    .join("; ");
  return {
    reason: "ProbeDeadlineExceeded",
    message: `Stage ${o.stageIndex} (${o.stage}): after ${seconds(o.deadlineSeconds)} ${seen || "the probes did not pass"}.`,
  };
}

/** A rolled-back target's endpoints did not show its previous certificate. */
export function rollbackNotVerified(failing: readonly Seen[]): Reason {
  const seen = failing
    .map((e) => `${e.hostName} served ${e.servedThumbprint ?? "nothing"}${e.detail ? ` (${e.detail})` : ""}`)
    .join("; ");
  return { reason: "RollbackNotVerified", message: `${seen} instead of the previous certificate.` };
}
