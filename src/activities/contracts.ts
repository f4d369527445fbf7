/**
 * The contract between the orchestrations and the activities: each activity's name (= its file in
 * src/activities/ and its registered function name), input and output. Everything here travels
 * through Durable history, so it holds references and public data only — never a private key, PFX,
 * password or key-bearing secret value.
 *
 * Failure convention (STYLE.md §4): an activity THROWS only for conditions worth an automatic retry
 * by `callActivityWithRetry` (network errors, 5xx after the SDK's own retries). Conditions the
 * orchestration must handle itself come back as typed results: `busy` (409, 429 without or with
 * Retry-After, APIM `RetryableErrorDueToAnotherOperation`, Kubernetes conflicts — the orchestration
 * waits on a durable timer and calls again) and `failed` (permanent: 4xx, validation, missing
 * resource — reason + message).
 */
import type { Binding, CertificateRef, ProbeSpec, Stage } from "../domain/bindings.js";
import type { BindingObservation } from "../domain/drift.js";
import type { ApimChange, BatchOutcome } from "../domain/apimBatch.js";
import type { FrontDoorProfileStep, KubernetesSecretStep, PlanCertificate } from "../domain/plan.js";
import type { DeployedThumbprint, PreflightPolicy, PreflightResult } from "../domain/preflight.js";
import type { RolloutReport } from "../domain/report.js";
import type { IgnoredBinding } from "../domain/writePolicy.js";
import type {
  ApimServiceSnapshot,
  FrontDoorProfileSnapshot,
  KubernetesSecretSnapshot,
  ProbeEvidence,
  Reasoned,
  RollbackAction,
} from "../domain/rollback.js";

/** Result of an activity that writes to a target. */
export type WriteOutcome<TSnapshot = undefined> =
  /** The write was accepted; `snapshot` is the state before it (for rollback). */
  | { status: "applied"; snapshot: TSnapshot; detail?: string }
  /**
   * The target is busy or throttled: wait on a durable timer and call again (see {@link BusyAnswer}).
   * `partial` is set when part of the write had already landed (e.g. one Front Door domain of two
   * repointed): calling again finishes it; a caller that stops waiting must count the write as
   * `unknown` and roll back from `partial.snapshot`, not as not applied.
   */
  | (BusyAnswer & { partial?: { snapshot: TSnapshot } })
  /** A permanent failure; `write` tells whether anything may have landed. */
  | ({ status: "failed"; write: "notApplied" | "unknown"; snapshot?: TSnapshot } & Reasoned);

/**
 * A `busy` answer. `retryAfterSeconds` is always at least 1. When `retryAfterSource` is `"service"`
 * it is the wait the service asked for (Retry-After); when it is `"default"` the service named no
 * wait and the number is only a suggestion (DEFAULT_BUSY_SECONDS): the caller should apply its own
 * backoff. Answers recorded before the field existed carry none; read those as `"service"`.
 */
export interface BusyAnswer {
  status: "busy";
  retryAfterSeconds: number;
  retryAfterSource?: "service" | "default";
  reason: string;
  message: string;
}

/** Where a Key Vault certificate version comes from. */
export type IssuerKind = "Self" | "Integrated" | "Unknown";

// ---------------------------------------------------------------------------------------------
// Bindings

/** `resolveBindings`: discovery across configured scopes, plus the explicit bindings file. */
export interface ResolveBindingsInput {
  certificate: CertificateRef;
}
export interface ResolveBindingsOutput {
  bindings: Binding[];
  /** Scopes that could not be read, files that did not validate (reason + message each). */
  warnings: Reasoned[];
  /** Bindings `WRITE_POLICY` leaves out: never written, named in reports and the inventory. */
  ignored?: IgnoredBinding[];
  /** `resolveBindings`: unreadable resources that cannot bind the certificate (not blocking). */
  unrelated?: Reasoned[];
}

/** `discoverAllBindings`: every binding of every certificate in the configured scopes (drift scan, inventory). */
export type DiscoverAllBindingsInput = Record<string, never>;
export type DiscoverAllBindingsOutput = ResolveBindingsOutput;

// ---------------------------------------------------------------------------------------------
// Key Vault

/** `readCertificate`: the certificate's current (or a given) version, public data only. */
export interface ReadCertificateInput {
  vaultName: string;
  certificateName: string;
  version?: string;
}
export type ReadCertificateOutput =
  | {
      found: true;
      /** Vault base URL, no trailing slash. */
      vaultUrl: string;
      /** ARM id of the vault when configuration knows it (needed for Front Door secretSource). */
      vaultResourceId?: string;
      version: string;
      /** SHA-1, uppercase hex. */
      thumbprint: string;
      notBefore?: string;
      expiresOn?: string;
      enabled: boolean;
      issuerName: string;
      issuerKind: IssuerKind;
      /** Tags of the version (our renewal marks its versions with the rotation id). */
      tags: Record<string, string>;
      /** Older versions, newest first (at most 10), for drift classification. */
      previousVersions: { version: string; thumbprint: string }[];
    }
  | ({ found: false } & Reasoned);

/** `startRenewal`: begin creating a new version with the existing policy (idempotent: an operation already pending is reused). */
export interface StartRenewalInput {
  vaultName: string;
  certificateName: string;
  /** Written as tag `cert-rotation.e2e/rotation` on the new version, so its NewVersionCreated event is recognised as ours. */
  rotationId: string;
}
export type StartRenewalOutput =
  | { status: "started" | "alreadyPending" }
  | { status: "notRenewable"; reason: string; message: string }
  | BusyAnswer;

/** `readRenewal`: the pending create operation. */
export interface ReadRenewalInput {
  vaultName: string;
  certificateName: string;
}
export type ReadRenewalOutput =
  | { status: "inProgress" }
  | { status: "completed"; version: string }
  | { status: "none"; version?: string }
  | ({ status: "failed" | "cancelled" } & Reasoned);

/** `preflightCertificate`: fetch the version (key material stays inside the activity), run the preflight chain. */
export interface PreflightCertificateInput {
  vaultName: string;
  certificateName: string;
  version: string;
  bindings: Binding[];
  deployed?: DeployedThumbprint[];
  policy?: Partial<PreflightPolicy>;
}
export type PreflightCertificateOutput = PreflightResult & {
  subject: string;
  notAfter: string;
};

// ---------------------------------------------------------------------------------------------
// Targets

/** `readDeployed`: what each binding is configured with now (thumbprint of its configured version). */
export interface ReadDeployedInput {
  bindings: Binding[];
}
export interface ReadDeployedOutput {
  deployed: DeployedThumbprint[];
}

/** `applyKubernetesSecret`: write tls.crt/tls.key (and/or ca.crt) with a resourceVersion precondition; keep a backup for rollback. */
export interface ApplyKubernetesSecretInput {
  step: KubernetesSecretStep;
  certificate: PlanCertificate & { secretId: string };
  rotationId: string;
  /** Restart the step's deployments after the write (setting ROLLOUT_RESTART_DEPLOYMENTS). */
  restartDeployments: boolean;
}
export type ApplyKubernetesSecretOutput = WriteOutcome<KubernetesSecretSnapshot>;

/** `queueApimChange`: queue a rollout's (or rollback's) change to one APIM service; idempotent per request id. */
export interface QueueApimChangeInput {
  serviceId: string;
  change: ApimChange;
}
export interface QueueApimChangeOutput {
  /** ISO 8601: when it was first queued. */
  queuedAt: string;
}

/**
 * `takeApimTurn`: where the caller's queued change is; when it is not settled, either withdraws it
 * (`withdraw`, while no update has claimed it) or takes the service's lease so the caller sends the
 * next update itself, or says who holds the lease.
 */
export interface TakeApimTurnInput {
  serviceId: string;
  requestId: string;
  owner: string;
  leaseSeconds: number;
  /** The caller is stopping (cancelled, out of time): take the change back if no update claimed it. */
  withdraw: boolean;
}
export type TakeApimTurnOutput =
  /** An update carrying the change was provisioned; `snapshot`: the state before (apply changes). */
  | { turn: "done"; snapshot?: ApimServiceSnapshot }
  /** The change failed; `attemptedWrite`: an update carrying it was sent (it may have landed). */
  | ({ turn: "failed"; attemptedWrite: boolean; snapshot?: ApimServiceSnapshot } & Reasoned)
  /** Taken back before any update claimed it (only with `withdraw`). */
  | { turn: "withdrawn"; attemptedWrite: boolean; snapshot?: ApimServiceSnapshot }
  /** The caller holds the service's lease: it sends the next update. */
  | { turn: "lead" }
  /** Another instance holds the lease (an update of theirs may carry this change). */
  | { turn: "wait"; heldBy: string; retryAfterSeconds: number };

/**
 * `sendApimUpdate` (lease holder only): claims the next batch of queued changes (see `pickBatch`),
 * keeps each rollout's snapshot, repoints the `certificates` entities and sends ONE PATCH with the
 * whole hostname array carrying every change; does not wait for the operation. A change naming an
 * entry the service does not have fails alone (HostnameNotFound). A refusal settles the batch itself.
 */
export interface SendApimUpdateInput {
  serviceId: string;
  /** Unique per lease holder and round; a rerun with the same id resends the same batch. */
  updateId: string;
}
export type SendApimUpdateOutput =
  /** Sent; the update sets `expect` (what provisioning must show) for the changes `requestIds`. */
  | {
      status: "applied";
      requestIds: string[];
      expect: { type: string; hostName: string; keyVaultId: string }[];
      detail?: string;
    }
  /** Nothing is queued. */
  | { status: "empty" }
  | BusyAnswer
  /** Refused; the batch's changes are settled (failed, or queued again to go alone). */
  | ({ status: "failed"; requestIds: string[] } & Reasoned);

/** `settleApimUpdate`: the changes `updateId` claimed, settled as the update ended. */
export interface SettleApimUpdateInput {
  serviceId: string;
  updateId: string;
  outcome: BatchOutcome;
}
export interface SettleApimUpdateOutput {
  settled: number;
}

/** `readApimService`: provisioning state and what the bound entries point at, to wait for an update. */
export interface ReadApimServiceInput {
  serviceId: string;
}
export interface ReadApimServiceOutput {
  provisioningState: string;
  hostnames: { type: string; hostName: string; keyVaultId?: string; thumbprint?: string }[];
  certificates: { certificateId: string; secretIdentifier?: string; thumbprint?: string }[];
}

/** `applyFrontDoorProfile`: PUT the new secret (create-or-replace), PATCH each custom domain to it; does not wait for deployment. */
export interface ApplyFrontDoorProfileInput {
  step: FrontDoorProfileStep;
  rotationId: string;
}
export type ApplyFrontDoorProfileOutput = WriteOutcome<FrontDoorProfileSnapshot>;

/** `readFrontDoorProfile`: provisioning and deployment state of the step's custom domains and secret. */
export interface ReadFrontDoorProfileInput {
  profileId: string;
  customDomains: string[];
}
export interface ReadFrontDoorProfileOutput {
  customDomains: { name: string; secretName?: string; provisioningState: string; deploymentStatus: string }[];
}

/**
 * `rollbackTarget`: apply one rollback action. For Front Door, once the domains are back on their
 * previous secrets, the secret created for the new version (`deleteSecretName`) is deleted here when
 * no custom domain of the profile references it any more (already gone counts as done; a secret
 * still referenced is left and the detail says so). `cleanupTarget` only runs after a Succeeded.
 */
export interface RollbackTargetInput {
  /** A Secret or a Front Door profile (APIM entries go back through the service's update queue). */
  action: Exclude<RollbackAction, { kind: "apimService" }>;
  rotationId: string;
  /** Restart the action's Deployments after the restore (setting ROLLOUT_RESTART_DEPLOYMENTS). */
  restartDeployments: boolean;
  /** `deleteCreated`: only delete the Front Door secret made for the new version (after the rollback is verified). */
  phase?: "restore" | "deleteCreated";
}
export type RollbackTargetOutput = WriteOutcome<undefined>;

/** `cleanupTarget`: after a final Succeeded, remove what is no longer needed (Kubernetes backup Secrets, superseded Front Door secrets no domain uses). */
export interface CleanupTargetInput {
  snapshot: KubernetesSecretSnapshot | FrontDoorProfileSnapshot;
  step: KubernetesSecretStep | FrontDoorProfileStep;
  /**
   * Set for a `ca.crt` Secret once the client-certificate stage succeeded: write the new CA chain
   * alone, pruning the old CAs kept during the change (only while the Secret still carries this run's write).
   */
  pruneCa?: { rotationId: string; certificate: PlanCertificate };
}
export type CleanupTargetOutput = { status: "done" | "skipped"; detail: string };

// ---------------------------------------------------------------------------------------------
// Probes

/**
 * `probeEndpoints`: real TLS handshakes (and an HTTPS request through the chain) for a stage's probes.
 *
 * A `serves` probe passes when the chain and name are valid and the leaf is `expectThumbprint`. Without
 * `expectThumbprint` it can only pass through `rejectThumbprint` (a valid leaf that is not that one —
 * the weaker check a rollback falls back to when the previous leaf is not known); with neither, it is
 * reported as unverifiable (ok false), never as verified.
 */
export interface ProbeEndpointsInput {
  stage: Stage;
  probes: ProbeSpec[];
  /** SHA-1 thumbprint the `serves` probes must see. */
  expectThumbprint?: string;
  /** Without `expectThumbprint`: SHA-1 thumbprint the `serves` probes must NOT see (the new leaf, on rollback). */
  rejectThumbprint?: string;
  /**
   * Also send `GET <PROBE_END_TO_END_PATH>` (default `/`) through the whole chain to each of
   * `endToEndHosts` at every address; any answer below 500 passes (only 2xx when
   * `PROBE_END_TO_END_REQUIRE_2XX` is true), a 5xx or no answer fails.
   */
  endToEnd?: boolean;
  /** Hosts of the end-to-end request (the plan's outermost hosts). Default: the probes' host names. */
  endToEndHosts?: string[];
}
export interface ProbeEndpointsOutput {
  evidence: ProbeEvidence[];
  /** True when every probe is ok. */
  ok: boolean;
}

// ---------------------------------------------------------------------------------------------
// Coordination

/** `acquireLock`: a lease on one resource (an APIM service) in Table storage, so updates never overlap across rollouts. */
export interface AcquireLockInput {
  resourceKey: string;
  /** The orchestration instance id asking. */
  owner: string;
  leaseSeconds: number;
}
export type AcquireLockOutput =
  { acquired: true } | { acquired: false; heldBy: string; retryAfterSeconds: number };

/** `releaseLock`: releases a lease held by `owner` (no-op otherwise). */
export interface ReleaseLockInput {
  resourceKey: string;
  owner: string;
}

// ---------------------------------------------------------------------------------------------
// Record and tell

/** `recordAudit`: upsert the rollout's audit record (Table storage; one row per run id, idempotent). */
export interface RecordAuditInput {
  report: RolloutReport;
}

/** `publishOutcome`: one CloudEvent per final state to the outcome topic (id `<runId>:<state>`, so a retry is a duplicate the consumer can drop and the next rollout is not). */
export interface PublishOutcomeInput {
  report: RolloutReport;
}

// ---------------------------------------------------------------------------------------------
// Drift

/** `observeBinding`: what the binding is configured with and what its endpoints serve. */
export interface ObserveBindingInput {
  binding: Binding;
}
export type ObserveBindingOutput = BindingObservation;
