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
import { scaledSeconds, settingDefault, type Config } from "../config.js";

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
   * service needs about N times that). A dead holder's lease expires by itself. At least
   * `ROLLOUT_TIMINGS.minLockWaitDeadlineSeconds` and `busyDeadlineSeconds`; absent in inputs of older
   * rollouts, which use `busyDeadlineSeconds` (see {@link waitSettings}).
   */
  lockWaitDeadlineSeconds?: number;
  /**
   * Before sending an APIM update, the lease holder waits this long so that the changes of rollouts
   * arriving at the same moment go in the same update (an update takes 15 minutes or more in Azure).
   * `ROLLOUT_TIMINGS.apimGatherSeconds`; absent in inputs of older rollouts (no wait: see {@link waitSettings}).
   */
  apimGatherSeconds?: number;
  /** First interval of the automatic retry of an activity that threw (a retriable condition). */
  retryFirstIntervalSeconds: number;
  /** Attempts of an activity that keeps throwing before the orchestration treats it as failed. */
  retryMaxAttempts: number;
  /**
   * Longest interval between two rounds of a wait (probes, provisioning, renewal, a busy target):
   * the interval starts at the stage's probe interval and doubles up to this. `ROLLOUT_TIMINGS`;
   * absent in inputs of older rollouts (see {@link waitSettings}).
   */
  pollMaxIntervalSeconds?: number;
  /** `WAIT_ROUNDS_PER_EXECUTION`: rounds a wait sub-orchestration runs before it continues as new. */
  pollRoundsPerExecution?: number;
  /** Shortest wait before calling a busy target again, whatever its Retry-After. `ROLLOUT_TIMINGS`. */
  busyFloorSeconds?: number;
  /** Attempts of a write whose target keeps answering busy before the step fails (reason Busy). `ROLLOUT_TIMINGS`. */
  busyMaxAttempts?: number;
}

/**
 * The rollout's fixed timings, which no app setting changes, in real seconds (before `TIME_SCALE`).
 * The one source of these values: {@link rolloutPolicyFrom} scales them into a new policy, and
 * {@link waitSettings} gives them unscaled to policies recorded before a field existed (those
 * rollouts ran with these values).
 */
export const ROLLOUT_TIMINGS = {
  /** Longest interval between two rounds of a wait (see `pollMaxIntervalSeconds`). */
  pollMaxIntervalSeconds: 300,
  /** Shortest wait before calling a busy target again (see `busyFloorSeconds`). */
  busyFloorSeconds: 5,
  /** Attempts of a write whose target keeps answering busy (see `busyMaxAttempts`). */
  busyMaxAttempts: 12,
  /** Time the lease holder of an APIM service gathers changes before its update (see `apimGatherSeconds`). */
  apimGatherSeconds: 10,
  /** First interval of the automatic retry of an activity that threw. */
  retryFirstIntervalSeconds: 5,
  /** Attempts of an activity that keeps throwing. */
  retryMaxAttempts: 5,
  /** The busy deadline is `PROBE_DEADLINE_APIM_SECONDS`, but never shorter than this. */
  minBusyDeadlineSeconds: 600,
  /** The wait for another rollout's lease is never shorter than this (24 h: a queue of APIM updates). */
  minLockWaitDeadlineSeconds: 86400,
  /** A pending renewal is polled every `PROBE_INTERVAL_SECONDS`, but at least this often. */
  maxRenewalPollSeconds: 30,
} as const;

/** The wait fields of a policy, with every optional one resolved. */
export interface WaitSettings {
  pollMaxIntervalSeconds: number;
  pollRoundsPerExecution: number;
  busyFloorSeconds: number;
  busyMaxAttempts: number;
  /** A policy recorded before it existed waits for a lease as long as for a busy target. */
  lockWaitDeadlineSeconds: number;
  /** A policy recorded before it existed does not gather (0 s). */
  apimGatherSeconds: number;
}

/** The wait fields from the fixed timings, durations passed through `scale`. */
const waitFields = (scale: (seconds: number) => number, roundsPerExecution: number) => ({
  pollMaxIntervalSeconds: scale(ROLLOUT_TIMINGS.pollMaxIntervalSeconds),
  pollRoundsPerExecution: roundsPerExecution,
  busyFloorSeconds: scale(ROLLOUT_TIMINGS.busyFloorSeconds),
  busyMaxAttempts: ROLLOUT_TIMINGS.busyMaxAttempts,
});

/**
 * The policy's wait settings. Inputs of older rollouts lack some fields; they get the values those
 * rollouts ran with: the fixed timings unscaled, `WAIT_ROUNDS_PER_EXECUTION`'s default, no gathering.
 */
export function waitSettings(policy: RolloutPolicy): WaitSettings {
  const recorded = waitFields((seconds) => seconds, settingDefault("WAIT_ROUNDS_PER_EXECUTION"));
  return {
    pollMaxIntervalSeconds: policy.pollMaxIntervalSeconds ?? recorded.pollMaxIntervalSeconds,
    pollRoundsPerExecution: Math.max(2, policy.pollRoundsPerExecution ?? recorded.pollRoundsPerExecution),
    busyFloorSeconds: policy.busyFloorSeconds ?? recorded.busyFloorSeconds,
    busyMaxAttempts: Math.max(1, policy.busyMaxAttempts ?? recorded.busyMaxAttempts),
    lockWaitDeadlineSeconds: policy.lockWaitDeadlineSeconds ?? policy.busyDeadlineSeconds,
    apimGatherSeconds: policy.apimGatherSeconds ?? 0,
  };
}

/** The rollout policy from configuration (durations divided by `TIME_SCALE`). */
export function rolloutPolicyFrom(config: Config): RolloutPolicy {
  const s = (seconds: number) => scaledSeconds(config, seconds);
  const t = ROLLOUT_TIMINGS;
  const apimDeadline = config.probes.deadlineSeconds.apim;
  return {
    stageOrder: [...config.rollout.stageOrder],
    probeIntervalSeconds: s(config.probes.intervalSeconds),
    probeDeadlineSeconds: {
      kubernetes: s(config.probes.deadlineSeconds.kubernetes),
      apim: s(apimDeadline),
      frontDoor: s(config.probes.deadlineSeconds.frontDoor),
    },
    renewOnNearExpiry: config.rollout.renewOnNearExpiry,
    renewalDeadlineSeconds: s(config.rollout.renewalDeadlineSeconds),
    renewalPollSeconds: s(Math.min(t.maxRenewalPollSeconds, config.probes.intervalSeconds)),
    minRemainingValidityDays: config.rollout.minRemainingValidityDays,
    restartDeployments: config.rollout.restartDeployments,
    busyDeadlineSeconds: s(Math.max(apimDeadline, t.minBusyDeadlineSeconds)),
    lockWaitDeadlineSeconds: s(
      Math.max(apimDeadline, t.minBusyDeadlineSeconds, t.minLockWaitDeadlineSeconds),
    ),
    apimGatherSeconds: s(t.apimGatherSeconds),
    retryFirstIntervalSeconds: s(t.retryFirstIntervalSeconds),
    retryMaxAttempts: t.retryMaxAttempts,
    ...waitFields(s, config.rollout.waitRoundsPerExecution),
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
