/**
 * What happened to each step, how to undo it, and how a rollout ends.
 *
 * The activities record a snapshot of each target before writing it (references and thumbprints,
 * never key material); {@link planRollback} turns the applied steps into the reverse-order actions
 * that put every target back, and {@link finalState} decides the outcome of the whole rollout
 * from everything that happened, with a reason and a sentence.
 */
import type { Stage, ProbeSpec } from "./bindings.js";
import type { ApimServiceStep, FrontDoorProfileStep, KubernetesSecretStep, Plan, PlanStep } from "./plan.js";
import type { PreflightResult } from "./preflight.js";
import { summariseFailures } from "./preflight.js";
import { apimPinNotice, frontDoorPinNotice, isVersionless, secretSourceParts } from "./pinning.js";
import { frontDoorSecretName } from "./plan.js";

/** A reason and a sentence. */
export interface Reasoned {
  reason: string;
  message: string;
}

/** A Kubernetes Secret as it was before our write. */
export interface KubernetesSecretSnapshot {
  kind: "kubernetesSecret";
  /** Whether the Secret existed before the write. */
  existed: boolean;
  /** The vault version it carried (from our annotation), when known. */
  previousVersion?: string;
  previousThumbprint?: string;
  /** A copy of the previous Secret kept in the cluster by the write activity, when one was made. */
  backupSecretName?: string;
  /** `metadata.resourceVersion` after our write; rollback writes only if nobody changed it since. */
  resourceVersionAfterWrite?: string;
}

/** An APIM service's entries as they were before our update. */
export interface ApimServiceSnapshot {
  kind: "apimService";
  hostnames: {
    type: string;
    hostName: string;
    previousKeyVaultId?: string;
    previousThumbprint?: string;
    /** A versionless `previousKeyVaultId` pinned to the version that was served (what a rollback restores). */
    previousPinnedKeyVaultId?: string;
  }[];
  certificates: {
    certificateId: string;
    previousSecretIdentifier?: string;
    previousThumbprint?: string;
    /** A versionless `previousSecretIdentifier` pinned to the version that was served. */
    previousPinnedSecretIdentifier?: string;
  }[];
}

/** A Front Door profile's custom domains as they were before the repoint. */
export interface FrontDoorProfileSnapshot {
  kind: "frontDoorProfile";
  customDomains: {
    name: string;
    hostName: string;
    previousSecretName: string;
    /** The vault version the previous secret served: its `secretVersion`, or for 'Latest' the one found by thumbprint. */
    previousVersion?: string;
    previousThumbprint?: string;
    /** The previous secret follows the latest version (`useLatestVersion`): a rollback pins `previousVersion`. */
    previousFollowsLatest?: boolean;
    /** The previous secret's Key Vault source (ARM id of the vault secret), for a pinned copy. */
    previousSecretSourceId?: string;
  }[];
  /** The secret created for the new version (deleted once rollback is verified). */
  createdSecretName: string;
}

/** The state of one target before the write. */
export type StepSnapshot = KubernetesSecretSnapshot | ApimServiceSnapshot | FrontDoorProfileSnapshot;

/** One probe result, as evidence for reports. */
export interface ProbeEvidence {
  hostName: string;
  expect: ProbeSpec["expect"];
  /** ISO 8601. */
  at: string;
  ok: boolean;
  /** SHA-1 thumbprint of the leaf the endpoint presented, when the handshake got that far. */
  servedThumbprint?: string;
  detail?: string;
}

/** What happened to one plan step. */
export interface StepResult {
  stepId: string;
  /**
   * `applied`: the write went through; `notApplied`: nothing was written; `unknown`: the write may
   * or may not have landed (a timeout), so it is treated as applied for rollback.
   */
  write: "applied" | "notApplied" | "unknown";
  snapshot?: StepSnapshot;
  probes?: ProbeEvidence[];
  /** Why the step failed, when it did. */
  failure?: Reasoned;
}

/** What happened to one stage. */
export interface StageResult {
  index: number;
  stage: Stage;
  status: "succeeded" | "failed" | "cancelled" | "notStarted";
  steps: StepResult[];
  failure?: Reasoned;
  startedAt?: string;
  finishedAt?: string;
}

/** Probe expectation after a rollback: the host serves the previous certificate again (at the same addresses). */
export interface RollbackProbe extends ProbeSpec {
  /** The thumbprint the host should serve again, when the snapshot knew it. */
  thumbprint?: string;
}

/** Restore a Kubernetes Secret. */
export interface KubernetesRollbackAction {
  kind: "kubernetesSecret";
  stepId: string;
  cluster: string;
  namespace: string;
  secretName: string;
  restore:
    | { from: "vaultVersion"; version: string }
    | { from: "backupSecret"; secretName: string }
    | { from: "delete" };
  writeTls: boolean;
  writeCa: boolean;
  /** Write only if the Secret still has this resourceVersion (ours); otherwise someone else changed it. */
  expectedResourceVersion?: string;
  restartDeployments: string[];
  probes: RollbackProbe[];
}

/** Put APIM hostnames and certificate entities back on their previous Key Vault secret ids (one update). */
export interface ApimRollbackAction {
  kind: "apimService";
  stepId: string;
  serviceId: string;
  hostnames: { type: string; hostName: string; keyVaultId: string }[];
  certificates: { certificateId: string; secretIdentifier: string }[];
  probes: RollbackProbe[];
  /** What the report says about this action (a reference pinned, and how to unpin). */
  notices?: string[];
}

/**
 * Repoint Front Door custom domains to their previous secrets (a 'Latest' one replaced by a secret
 * pinned to the version it served: `pin`); the secret we created is deleted once the rollback is
 * verified.
 */
export interface FrontDoorRollbackAction {
  kind: "frontDoorProfile";
  stepId: string;
  profileId: string;
  customDomains: {
    name: string;
    hostName: string;
    secretName: string;
    /** Create `secretName` pinned to this source and version first (it replaces a 'Latest' secret). */
    pin?: { secretSourceId: string; version: string };
  }[];
  deleteSecretName: string;
  probes: RollbackProbe[];
  notices?: string[];
}

/** One rollback action. */
export type RollbackAction = KubernetesRollbackAction | ApimRollbackAction | FrontDoorRollbackAction;

/** A target that cannot be put back automatically, and why. */
export interface Unrestorable extends Reasoned {
  stepId: string;
}

/** The reverse-order rollback of a rollout. */
export interface RollbackPlan {
  /** Stages in reverse order of application, each with its actions. */
  stages: { index: number; stage: Stage; actions: RollbackAction[] }[];
  unrestorable: Unrestorable[];
}

/**
 * Computes the rollback of every applied (or possibly applied) step, stages in reverse order of
 * application. Steps that wrote nothing are skipped; targets whose previous state is not known
 * well enough to restore are listed as unrestorable (the rollout then needs a person).
 */
export function planRollback(plan: Plan, results: readonly StageResult[]): RollbackPlan {
  const steps = new Map(plan.stages.flatMap((s) => s.steps.map((st) => [st.stepId, st] as const)));
  const unrestorable: Unrestorable[] = [];
  const stages: RollbackPlan["stages"] = [];
  const applied = [...results].filter((r) => r.status !== "notStarted").sort((a, b) => b.index - a.index);
  for (const r of applied) {
    const actions: RollbackAction[] = [];
    for (const res of [...r.steps].reverse()) {
      if (res.write === "notApplied") continue;
      const step = steps.get(res.stepId);
      if (!step) {
        unrestorable.push({
          stepId: res.stepId,
          reason: "UnknownStep",
          message: `Step ${res.stepId} is not in the plan.`,
        });
        continue;
      }
      const out = rollbackAction(step, res.snapshot);
      if ("reason" in out) unrestorable.push({ stepId: res.stepId, ...out });
      else actions.push(out);
    }
    if (actions.length) stages.push({ index: r.index, stage: r.stage, actions });
  }
  return { stages, unrestorable };
}

function rollbackAction(step: PlanStep, snap: StepSnapshot | undefined): RollbackAction | Reasoned {
  if (!snap || snap.kind !== step.kind) {
    return {
      reason: "NoSnapshot",
      message: `No snapshot of ${step.description.replace(/\.$/, "")} was recorded before the write.`,
    };
  }
  switch (step.kind) {
    case "kubernetesSecret":
      return kubernetesRollback(step, snap as KubernetesSecretSnapshot);
    case "apimService":
      return apimRollback(step, snap as ApimServiceSnapshot);
    case "frontDoorProfile":
      return frontDoorRollback(step, snap as FrontDoorProfileSnapshot);
  }
}

/** A Secret goes back: deleted when we created it, else from our backup, else from its previous vault version. */
function kubernetesRollback(
  step: KubernetesSecretStep,
  s: KubernetesSecretSnapshot,
): KubernetesRollbackAction | Reasoned {
  const restore: KubernetesRollbackAction["restore"] | undefined = !s.existed
    ? { from: "delete" }
    : s.backupSecretName
      ? { from: "backupSecret", secretName: s.backupSecretName }
      : s.previousVersion
        ? { from: "vaultVersion", version: s.previousVersion }
        : undefined;
  if (!restore) {
    return {
      reason: "PreviousVersionUnknown",
      message: `Secret ${step.namespace}/${step.secretName} in ${step.cluster} held a certificate from no known vault version and no backup was kept.`,
    };
  }
  return {
    kind: "kubernetesSecret",
    stepId: step.stepId,
    cluster: step.cluster,
    namespace: step.namespace,
    secretName: step.secretName,
    restore,
    writeTls: step.writeTls,
    writeCa: step.writeCa,
    ...(s.resourceVersionAfterWrite ? { expectedResourceVersion: s.resourceVersionAfterWrite } : {}),
    restartDeployments: step.restartDeployments,
    probes: step.probes.map((p) => ({
      ...p,
      ...(s.previousThumbprint ? { thumbprint: s.previousThumbprint } : {}),
    })),
  };
}

/**
 * APIM entries go back to their previous Key Vault references (only entries that had one can); a
 * versionless one is pinned to the version it served, else it cannot be restored (as it was, it
 * would resolve to the version being rolled back).
 */
function apimRollback(step: ApimServiceStep, s: ApimServiceSnapshot): ApimRollbackAction | Reasoned {
  const missing = [
    ...s.hostnames.filter((h) => !h.previousKeyVaultId).map((h) => `hostname ${h.hostName}`),
    ...s.certificates.filter((c) => !c.previousSecretIdentifier).map((c) => `certificate ${c.certificateId}`),
  ];
  if (missing.length) {
    return {
      reason: "PreviousVersionUnknown",
      message: `APIM ${missing.join(", ")} did not come from Key Vault before the update, so there is no reference to restore.`,
    };
  }
  const unpinnable = [
    ...s.hostnames
      .filter((h) => isVersionless(h.previousKeyVaultId) && !h.previousPinnedKeyVaultId)
      .map((h) => `hostname ${h.hostName}`),
    ...s.certificates
      .filter((c) => isVersionless(c.previousSecretIdentifier) && !c.previousPinnedSecretIdentifier)
      .map((c) => `certificate ${c.certificateId}`),
  ];
  if (unpinnable.length) {
    return {
      reason: "PreviousVersionUnknown",
      message: `APIM ${unpinnable.join(", ")} had a versionless Key Vault reference and the version it served was not found in the vault; restoring the reference as it was would serve the version being rolled back.`,
    };
  }
  const thumbByHost = new Map(s.hostnames.map((h) => [h.hostName.toLowerCase(), h.previousThumbprint]));
  const notices = [
    ...s.hostnames.flatMap((h) =>
      h.previousPinnedKeyVaultId
        ? [
            apimPinNotice(
              `${h.type} hostname ${h.hostName}`,
              h.previousKeyVaultId!,
              h.previousPinnedKeyVaultId,
            ),
          ]
        : [],
    ),
    ...s.certificates.flatMap((c) =>
      c.previousPinnedSecretIdentifier
        ? [
            apimPinNotice(
              `certificate ${c.certificateId}`,
              c.previousSecretIdentifier!,
              c.previousPinnedSecretIdentifier,
            ),
          ]
        : [],
    ),
  ];
  return {
    kind: "apimService",
    stepId: step.stepId,
    serviceId: step.serviceId,
    hostnames: s.hostnames.map((h) => ({
      type: h.type,
      hostName: h.hostName,
      keyVaultId: (h.previousPinnedKeyVaultId ?? h.previousKeyVaultId) as string,
    })),
    certificates: s.certificates.map((c) => ({
      certificateId: c.certificateId,
      secretIdentifier: (c.previousPinnedSecretIdentifier ?? c.previousSecretIdentifier) as string,
    })),
    probes: step.probes.map((p) =>
      withThumbprint(p, p.expect === "serves" ? thumbByHost.get(p.hostName) : undefined),
    ),
    ...(notices.length ? { notices } : {}),
  };
}

/**
 * Front Door domains go back to their previous secrets; a 'Latest' one is replaced by a secret pinned
 * to the version it served (Front Door cannot switch a secret between 'Latest' and a version), else
 * the domain cannot be restored. The secret made for the new version goes once the rollback is verified.
 */
function frontDoorRollback(
  step: FrontDoorProfileStep,
  s: FrontDoorProfileSnapshot,
): FrontDoorRollbackAction | Reasoned {
  const unpinnable = s.customDomains.filter(
    (d) => d.previousFollowsLatest && !(d.previousVersion && d.previousSecretSourceId),
  );
  if (unpinnable.length) {
    return {
      reason: "PreviousVersionUnknown",
      message: `Front Door custom domain(s) ${unpinnable.map((d) => d.name).join(", ")} used a 'Latest' secret and the version it served was not found in the vault; repointing to it would serve the version being rolled back.`,
    };
  }
  const thumbByHost = new Map(s.customDomains.map((d) => [d.hostName.toLowerCase(), d.previousThumbprint]));
  const customDomains = s.customDomains.map((d) => {
    if (!d.previousFollowsLatest)
      return { name: d.name, hostName: d.hostName, secretName: d.previousSecretName };
    const source = secretSourceParts(d.previousSecretSourceId);
    const version = d.previousVersion as string;
    return {
      name: d.name,
      hostName: d.hostName,
      secretName: frontDoorSecretName(source?.name ?? d.previousSecretName, version),
      pin: { secretSourceId: d.previousSecretSourceId as string, version },
    };
  });
  const notices = customDomains.flatMap((d, i) =>
    d.pin
      ? [frontDoorPinNotice(d.name, s.customDomains[i]!.previousSecretName, d.secretName, d.pin.version)]
      : [],
  );
  return {
    kind: "frontDoorProfile",
    stepId: step.stepId,
    profileId: step.profileId,
    customDomains,
    deleteSecretName: s.createdSecretName,
    probes: step.probes.map((p) => withThumbprint(p, thumbByHost.get(p.hostName))),
    ...(notices.length ? { notices } : {}),
  };
}

const withThumbprint = (p: ProbeSpec, thumbprint: string | undefined): RollbackProbe =>
  thumbprint ? { ...p, thumbprint } : { ...p };

/** The outcome of one rollback action. */
export interface RollbackActionResult {
  stepId: string;
  /** The write went back and probes showed the previous certificate. */
  verified: boolean;
  failure?: Reasoned;
  probes?: ProbeEvidence[];
  /** What a person should know (a reference pinned and how to unpin, a secret kept or deleted). */
  notices?: string[];
}

/** What the rollback did. */
export interface RollbackResult {
  actions: RollbackActionResult[];
  unrestorable: Unrestorable[];
}

/** How a rollout ends. */
export type FinalState = "Succeeded" | "Rejected" | "RolledBack" | "NeedsAttention" | "Cancelled";

/** A final state with its reason and a sentence. */
export interface FinalOutcome {
  state: FinalState;
  reason: string;
  message: string;
}

/** Everything {@link finalState} looks at; absent parts did not happen. */
export interface OutcomeInput {
  /** Getting the new version (renewal or waiting for an external issuer). */
  newVersion?: { status: "ready" } | { status: "notIssued" | "failed" | "wouldRenew"; message: string };
  /** Building the plan, when it failed. */
  planError?: Reasoned;
  preflight?: Pick<PreflightResult, "verdict" | "failures" | "notices">;
  dryRun?: boolean;
  /** Whether a cancel request was honoured. */
  cancelled?: boolean;
  stages?: readonly StageResult[];
  rollback?: RollbackResult;
}

/**
 * Decides the final state of a rollout:
 * - `Rejected`: preflight failed (nothing was touched);
 * - `Succeeded`: every stage verified, or nothing to do (already deployed, no bindings, dry run);
 * - `RolledBack`: a stage failed and every applied target is verified back on its previous state;
 * - `Cancelled`: a cancel was honoured and anything applied is verified back;
 * - `NeedsAttention`: no new version, a configuration problem, or a rollback that could not be
 *   completed or verified.
 */
export function finalState(o: OutcomeInput): FinalOutcome {
  // 1. No version to roll out (a dry run's renewal is only described).
  if (o.newVersion?.status === "wouldRenew")
    return { state: "Succeeded", reason: "DryRun", message: o.newVersion.message };
  if (o.newVersion && o.newVersion.status !== "ready") {
    return {
      state: "NeedsAttention",
      reason: o.newVersion.status === "notIssued" ? "NewVersionNotIssued" : "RenewalFailed",
      message: o.newVersion.message,
    };
  }
  // 2. No plan.
  if (o.planError) {
    return o.planError.reason === "NoBindings"
      ? { state: "Succeeded", reason: "NoBindings", message: `${o.planError.message} Nothing to roll out.` }
      : { state: "NeedsAttention", reason: o.planError.reason, message: o.planError.message };
  }
  // 3. Preflight.
  if (o.preflight?.verdict === "Rejected") {
    const first = o.preflight.failures[0];
    return {
      state: "Rejected",
      reason: first?.reason ?? "PreflightFailed",
      message: `Preflight refused the certificate; nothing was changed. ${summariseFailures(o.preflight.failures)}`,
    };
  }
  if (o.preflight?.verdict === "AlreadyDeployed") {
    return {
      state: "Succeeded",
      reason: "AlreadyDeployed",
      message: o.preflight.notices[0]?.message ?? "Every binding already has this certificate.",
    };
  }
  const stages = o.stages ?? [];
  const appliedAny = stages.some((s) => s.steps.some((st) => st.write !== "notApplied"));
  const failed = stages.find((s) => s.status === "failed");
  const cancelledStage = stages.some((s) => s.status === "cancelled");
  // 4. Dry run: planned and checked, not applied.
  if (o.dryRun && !appliedAny) {
    return {
      state: "Succeeded",
      reason: "DryRun",
      message: "Dry run: preflight passed and the plan was made; nothing was changed.",
    };
  }
  // 5. Something went wrong after writes began: the rollback decides.
  if (failed || o.cancelled || cancelledStage) {
    return afterStop({
      failed,
      cancelled: o.cancelled === true || !failed,
      appliedAny,
      rollback: o.rollback,
    });
  }
  // 6. Every stage verified.
  if (stages.length > 0 && stages.every((s) => s.status === "succeeded")) {
    const targets = stages.reduce((n, s) => n + s.steps.length, 0);
    return {
      state: "Succeeded",
      reason: "AllTargetsVerified",
      message: `All ${stages.length} stage(s) and ${targets} target(s) serve the new certificate.`,
    };
  }
  return {
    state: "NeedsAttention",
    reason: "IncompleteRollout",
    message: "The rollout ended before every stage was applied and verified.",
  };
}

/**
 * How a rollout that stopped (a stage failed, or a cancel) ends: by what had been applied and what
 * the rollback verified. `cancelled`: a cancel was honoured, or no stage failed.
 */
function afterStop(o: {
  failed: StageResult | undefined;
  cancelled: boolean;
  appliedAny: boolean;
  rollback: RollbackResult | undefined;
}): FinalOutcome {
  const { failed, cancelled } = o;
  const why: Reasoned = failed
    ? (failed.failure ??
      firstStepFailure(failed) ?? {
        reason: "StageFailed",
        message: `Stage ${failed.index} (${failed.stage}) failed.`,
      })
    : { reason: "Cancelled", message: "The rollout was cancelled on request." };
  if (!o.appliedAny) {
    return cancelled
      ? {
          state: "Cancelled",
          reason: "Cancelled",
          message: "The rollout was cancelled before anything was changed.",
        }
      : {
          state: "RolledBack",
          reason: why.reason,
          message: `${why.message} Nothing had been applied, so nothing needed undoing.`,
        };
  }
  const rb = o.rollback;
  if (!rb) {
    return {
      state: "NeedsAttention",
      reason: "RollbackNotRun",
      message: `${why.message} Targets were changed and no rollback ran.`,
    };
  }
  const unverified = rb.actions.filter((a) => !a.verified);
  if (rb.unrestorable.length || unverified.length) {
    const parts = [
      ...rb.unrestorable.map((u) => `${u.stepId}: ${u.message}`),
      ...unverified.map(
        (a) => `${a.stepId}: ${a.failure?.message ?? "the previous certificate was not seen again"}`,
      ),
    ];
    return {
      state: "NeedsAttention",
      reason: rb.unrestorable.length ? "RollbackIncomplete" : "RollbackUnverified",
      message: `${why.message} Rollback could not be verified for ${parts.length} target(s): ${parts.join("; ")}`,
    };
  }
  return cancelled
    ? {
        state: "Cancelled",
        reason: "Cancelled",
        message: `The rollout was cancelled; ${rb.actions.length} target(s) are verified back on their previous certificate.`,
      }
    : {
        state: "RolledBack",
        reason: why.reason,
        message: `${why.message} ${rb.actions.length} target(s) are verified back on their previous certificate.`,
      };
}

function firstStepFailure(stage: StageResult): Reasoned | undefined {
  return stage.steps.find((s) => s.failure)?.failure;
}
