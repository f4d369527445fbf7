/**
 * The inputs of the orchestrations and the rollout policy they carry. Triggers build the policy from
 * the validated configuration once and pass it in the input, so orchestrators never read settings
 * (they stay deterministic, and a policy change does not alter a running rollout's replay).
 *
 * Everything here travels through Durable history: references and public data only.
 */
import type { CertificateRef, Stage } from "../domain/bindings.js";
import type { CertificateEventRecord } from "../domain/keyVaultEvent.js";
import type { ReportTrigger } from "../domain/report.js";
import { scaledSeconds, type Config } from "../config.js";

/** How a rollout behaves; durations are in orchestration seconds (already divided by `TIME_SCALE`). */
export interface RolloutPolicy {
  /** `STAGE_ORDER`. */
  stageOrder: Stage[];
  /** `PROBE_INTERVAL_SECONDS`: time between two probes of a stage. */
  probeIntervalSeconds: number;
  /** `PROBE_DEADLINE_*_SECONDS`: how long each stage may take to serve the new certificate. */
  probeDeadlineSeconds: Record<Stage, number>;
  /** `RENEW_ON_NEAR_EXPIRY`. */
  renewOnNearExpiry: boolean;
  /** `RENEWAL_DEADLINE_SECONDS`. */
  renewalDeadlineSeconds: number;
  /** Time between two polls of a pending renewal. */
  renewalPollSeconds: number;
  /** `PREFLIGHT_MIN_VALIDITY_DAYS`. */
  minRemainingValidityDays: number;
  /** `ROLLOUT_RESTART_DEPLOYMENTS`. */
  restartDeployments: boolean;
  /** Longest wait for a busy target (409/429/another operation) before the step fails. */
  busyDeadlineSeconds: number;
  /**
   * Longest wait for the lease of a resource that other rollouts hold (their APIM updates run one
   * after another, each taking 15 minutes or more in Azure, so a queue of N certificates on one
   * service needs about N times that). A dead holder's lease expires by itself. Default 24 h, at
   * least `busyDeadlineSeconds`; absent in inputs of older rollouts, which use `busyDeadlineSeconds`.
   */
  lockWaitDeadlineSeconds?: number;
  /**
   * Before sending an APIM update, the lease holder waits this long so that the changes of rollouts
   * arriving at the same moment go in the same update (an update takes 15 minutes or more in Azure).
   * Default 10 s; absent in inputs of older rollouts (no wait).
   */
  apimGatherSeconds?: number;
  /** First interval of the automatic retry of an activity that threw (a retriable condition). */
  retryFirstIntervalSeconds: number;
  /** Attempts of an activity that keeps throwing before the orchestration treats it as failed. */
  retryMaxAttempts: number;
  /**
   * Longest interval between two rounds of a wait (probes, provisioning, renewal, a busy target):
   * the interval starts at the stage's probe interval and doubles up to this. Default 300 s.
   */
  pollMaxIntervalSeconds?: number;
  /** Rounds a wait sub-orchestration runs before it continues as new (bounded history). Default 20. */
  pollRoundsPerExecution?: number;
  /** Shortest wait before calling a busy target again, whatever its Retry-After. Default 5 s. */
  busyFloorSeconds?: number;
  /** Attempts of a write whose target keeps answering busy before the step fails (reason Busy). Default 12. */
  busyMaxAttempts?: number;
}

/** The policy's wait settings, with the defaults of fields a policy recorded before them lacks. */
export function waitSettings(policy: RolloutPolicy): {
  pollMaxIntervalSeconds: number;
  pollRoundsPerExecution: number;
  busyFloorSeconds: number;
  busyMaxAttempts: number;
} {
  return {
    pollMaxIntervalSeconds: policy.pollMaxIntervalSeconds ?? 300,
    pollRoundsPerExecution: Math.max(2, policy.pollRoundsPerExecution ?? 20),
    busyFloorSeconds: policy.busyFloorSeconds ?? 5,
    busyMaxAttempts: Math.max(1, policy.busyMaxAttempts ?? 12),
  };
}

/** The rollout policy from configuration (durations divided by `TIME_SCALE`). */
export function rolloutPolicyFrom(config: Config): RolloutPolicy {
  const s = (seconds: number) => scaledSeconds(config, seconds);
  return {
    stageOrder: [...config.rollout.stageOrder],
    probeIntervalSeconds: s(config.probes.intervalSeconds),
    probeDeadlineSeconds: {
      kubernetes: s(config.probes.deadlineSeconds.kubernetes),
      apim: s(config.probes.deadlineSeconds.apim),
      frontDoor: s(config.probes.deadlineSeconds.frontDoor),
    },
    renewOnNearExpiry: config.rollout.renewOnNearExpiry,
    renewalDeadlineSeconds: s(config.rollout.renewalDeadlineSeconds),
    renewalPollSeconds: s(Math.min(30, config.probes.intervalSeconds)),
    minRemainingValidityDays: config.rollout.minRemainingValidityDays,
    restartDeployments: config.rollout.restartDeployments,
    busyDeadlineSeconds: s(Math.max(config.probes.deadlineSeconds.apim, 600)),
    lockWaitDeadlineSeconds: s(Math.max(config.probes.deadlineSeconds.apim, 600, 86400)),
    apimGatherSeconds: s(10),
    retryFirstIntervalSeconds: s(5),
    retryMaxAttempts: 5,
    pollMaxIntervalSeconds: s(300),
    pollRoundsPerExecution: config.rollout.waitRoundsPerExecution,
    busyFloorSeconds: s(5),
    busyMaxAttempts: 12,
  };
}

/** What asked for the rollout, and what it asked. */
export type RotationRequest =
  /** A Key Vault event (near expiry, expired, new version). */
  | { kind: "event"; event: CertificateEventRecord }
  /** `POST /api/rollouts`. */
  | {
      kind: "manual";
      version?: string;
      targets?: string[];
      dryRun: boolean;
      /** Renew in Key Vault first (when the issuer allows it), then roll out the new version. */
      renew: boolean;
      requestedBy?: string;
    }
  /** A drift scan: the vault's current version to the drifted bindings. */
  | { kind: "drift"; scanId: string; version: string; targets: string[]; reason: string };

/** Input of `rotateCertificate`. */
export interface RotationInput {
  certificate: CertificateRef;
  request: RotationRequest;
  trigger: ReportTrigger;
  policy: RolloutPolicy;
}

/** Input of `driftScan`. */
export interface DriftScanInput {
  /** ISO 8601 time the timer was scheduled for. */
  scheduledFor: string;
  /** A random delay (chosen by the trigger) before the scan starts, in orchestration seconds. */
  jitterSeconds: number;
  mode: "repair" | "report";
  policy: RolloutPolicy;
}
