/**
 * Orchestration `apimChange`: one APIM change through the service's queue, as a sub-orchestration of
 * `applyTarget` (a rollout's change) or `restoreTarget` (a rollback's): queue the change, then take
 * turns until it is settled. A turn is one of
 *
 * - the change is settled (an update carrying it provisioned, or it failed): answer that;
 * - this instance got the service's lease: send the next update — every queued change of every
 *   rollout, one PATCH (see src/domain/apimBatch.ts) — wait until the service provisioned it
 *   (renewing the lease every round), settle its changes, release the lease on every path;
 * - another instance holds the lease (its update may carry this change): wait with backoff.
 *
 * So N rollouts on one service cost about one update instead of N back to back (each takes 15
 * minutes or more in Azure), and updates still never overlap. A stopping caller (cancel, out of
 * time) withdraws its change unless an update already claimed it; then it waits for that update to
 * settle, since the write is in flight. A cancelled sender (or one whose update failed after every
 * retry) stops waiting for its update and queues the update's changes again: the next holder resends
 * them (writes are idempotent).
 *
 * Waiting can last hours (other rollouts' updates run first, 15 minutes or more each), so the
 * instance continues as new every `pollRoundsPerExecution` turns, carrying where it is.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { queueApimChange } from "../activities/queueApimChange.js";
import { releaseLock } from "../activities/releaseLock.js";
import { sendApimUpdate } from "../activities/sendApimUpdate.js";
import { settleApimUpdate } from "../activities/settleApimUpdate.js";
import { takeApimTurn } from "../activities/takeApimTurn.js";
import type { ApimChange, BatchOutcome } from "../domain/apimBatch.js";
import type { ApimServiceSnapshot, Reasoned } from "../domain/rollback.js";
import { backoffSeconds } from "./backoff.js";
import { waitSettings, type RolloutPolicy } from "./policy.js";
import { pollInstanceId, waitFor } from "./pollUntil.js";
import {
  after,
  call,
  cancelRequested,
  renewLease,
  sleep,
  sleepUnlessCancelled,
  untilNotBusy,
  type Flow,
} from "./tasks.js";

/** Input of `apimChange`. */
export interface ApimChangeInput {
  serviceId: string;
  change: ApimChange;
  policy: RolloutPolicy;
  /** How long an update this instance sent may take to provision. */
  provisionDeadlineSeconds: number;
  /** First interval between two reads of the provisioning state. */
  pollIntervalSeconds: number;
  /** Before sending its first update, a holder waits this long so changes queued meanwhile go along. */
  gatherSeconds: number;
  /** Whether a "cancel" event stops it (a rollout's change) or not (a rollback's). */
  cancellable: boolean;
  /** Carried across continue-as-new. */
  carried?: { waitDeadline: string; rounds: number; waits: number; generation: number; stopping?: Reasoned };
}

/** The custom status of an `apimChange` instance (what the report shows of a queued change). */
export interface ApimChangeStatus {
  serviceId: string;
  change: string;
  /** queued: just queued; waiting: another instance holds the service (`heldBy`); sending: this one sends an update. */
  state: "queued" | "waiting" | "sending";
  heldBy?: string;
  /** Updates this instance sent (on behalf of every queued change). */
  updatesSent: number;
  /** Executions so far (continue-as-new). */
  generation: number;
  stopping?: string;
}

/** The lease on a service: long enough to outlast the longest gap between two renewals. */
export const leaseSecondsFor = (policy: RolloutPolicy): number =>
  Math.ceil(
    3 * waitSettings(policy).pollMaxIntervalSeconds +
      policy.retryFirstIntervalSeconds * 2 ** policy.retryMaxAttempts,
  );

/** How long a change may wait for its update to start (other rollouts' updates run first). */
const waitDeadlineSecondsFor = (policy: RolloutPolicy): number =>
  waitSettings(policy).lockWaitDeadlineSeconds;

/** How the change ended. */
export type ApimQueueResult =
  /** Provisioned. `stopped`: a cancel arrived once it was in flight (the caller rolls it back). */
  | { status: "done"; snapshot?: ApimServiceSnapshot; stopped?: Reasoned }
  /** Failed or withdrawn; `write` tells whether an update carrying it may have landed. */
  | { status: "failed"; write: "notApplied" | "unknown"; snapshot?: ApimServiceSnapshot; failure: Reasoned };

const CANCELLED: Reasoned = { reason: "Cancelled", message: "The rollout was cancelled on request." };

function* apimChangeOrchestrator(context: OrchestrationContext): Flow<ApimQueueResult | undefined> {
  const input = context.df.getInput<ApimChangeInput>();
  const { policy, serviceId, change } = input;
  const settings = waitSettings(policy);
  const owner = context.df.instanceId;
  const cancel: Task | undefined = input.cancellable ? context.df.waitForExternalEvent("cancel") : undefined;
  const backoff = {
    firstSeconds: settings.busyFloorSeconds,
    capSeconds: settings.pollMaxIntervalSeconds,
    floorSeconds: settings.busyFloorSeconds,
  };
  let { rounds, waits, stopping } = input.carried ?? { rounds: 0, waits: 0 };
  const generation = input.carried?.generation ?? 0;
  const waitDeadline =
    input.carried?.waitDeadline ?? after(context, waitDeadlineSecondsFor(policy)).toISOString();
  const deadline = Date.parse(waitDeadline);
  const show = (state: ApimChangeStatus["state"], heldBy?: string) => {
    const status: ApimChangeStatus = {
      serviceId,
      change: change.requestId,
      state,
      ...(heldBy ? { heldBy } : {}),
      updatesSent: rounds,
      generation,
      ...(stopping ? { stopping: stopping.reason } : {}),
    };
    context.df.setCustomStatus(status);
  };
  show("queued");
  if (!input.carried)
    yield* call(queueApimChange, { serviceId, change: { ...change, withdrawBy: waitDeadline } }, policy);
  for (let turns = 0; ; turns++) {
    // Bounded history: a fresh execution every few turns, carrying where it is (and a cancel heard).
    if (turns >= settings.pollRoundsPerExecution) {
      if (!stopping && cancel && (yield* cancelRequested(context, cancel))) stopping = CANCELLED;
      const next: ApimChangeInput = {
        ...input,
        carried: {
          waitDeadline,
          rounds,
          waits,
          generation: generation + 1,
          ...(stopping ? { stopping } : {}),
        },
      };
      context.df.continueAsNew(next);
      return undefined;
    }
    const turn = yield* call(
      takeApimTurn,
      {
        serviceId,
        requestId: change.requestId,
        owner,
        leaseSeconds: leaseSecondsFor(policy),
        withdraw: stopping !== undefined,
      },
      policy,
    );
    switch (turn.turn) {
      case "done":
        return {
          status: "done",
          ...(turn.snapshot ? { snapshot: turn.snapshot } : {}),
          ...(stopping ? { stopped: stopping } : {}),
        };
      case "failed":
        return {
          status: "failed",
          write: turn.attemptedWrite ? "unknown" : "notApplied",
          ...(turn.snapshot ? { snapshot: turn.snapshot } : {}),
          failure: { reason: turn.reason, message: turn.message },
        };
      case "withdrawn":
        return {
          status: "failed",
          write: turn.attemptedWrite ? "unknown" : "notApplied",
          ...(turn.snapshot ? { snapshot: turn.snapshot } : {}),
          failure: stopping ?? CANCELLED,
        };
      case "lead": {
        rounds++;
        show("sending");
        const round = yield* leadOneUpdate(context, input, rounds, stopping ? undefined : cancel);
        if (!stopping && round.stop) stopping = round.stop;
        // The service stayed busy through this round: try again later, until the wait deadline.
        if (!stopping && round.busy && context.df.currentUtcDateTime.getTime() >= deadline)
          stopping = { reason: "Busy", message: round.busy };
        waits = 0;
        // Nothing was sent although this change is not settled (a race with a claim): never spin.
        if (round.sentNothing) yield* sleep(context, settings.busyFloorSeconds);
        break;
      }
      case "wait": {
        show("waiting", turn.heldBy);
        const wait = Math.max(
          backoffSeconds(waits++, backoff, `${owner}|apim-turn`),
          Math.min(turn.retryAfterSeconds, settings.pollMaxIntervalSeconds),
        );
        if (!stopping && context.df.currentUtcDateTime.getTime() + wait * 1000 > deadline) {
          stopping = {
            reason: "ResourceLocked",
            message: `${serviceId} stayed locked by ${turn.heldBy} for ${Math.round(waitDeadlineSecondsFor(policy))} s.`,
          };
          break;
        }
        if (!stopping && cancel) {
          if (yield* sleepUnlessCancelled(context, wait, cancel)) stopping = CANCELLED;
        } else {
          yield* sleep(context, wait);
        }
        break;
      }
    }
  }
}

/** The registered orchestration; `applyTarget` and `restoreTarget` yield `apimChange(input, apimChangeInstanceId(…))`. */
export const apimChange = df.app.orchestration("apimChange", apimChangeOrchestrator);

export { apimChangeInstanceId } from "../domain/instanceIds.js";

/**
 * One update as the lease holder: gather, send (again while the service is busy, renewing the lease
 * before each attempt), wait for provisioning, settle, release the lease. Answers why the caller
 * should stop, if it should.
 */
function* leadOneUpdate(
  context: OrchestrationContext,
  options: ApimChangeInput,
  round: number,
  cancel: Task | undefined,
): Flow<{ stop?: Reasoned; sentNothing?: boolean; busy?: string }> {
  const { policy, serviceId } = options;
  const owner = context.df.instanceId;
  const lease = { resourceKey: serviceId, owner, leaseSeconds: leaseSecondsFor(policy) };
  const updateId = `${owner}#${round}`;
  const settleAs = (outcome: BatchOutcome) =>
    call(settleApimUpdate, { serviceId, updateId, outcome }, policy);
  try {
    if (round === 1 && options.gatherSeconds > 0) {
      if (cancel) {
        if (yield* sleepUnlessCancelled(context, options.gatherSeconds, cancel)) return { stop: CANCELLED };
      } else {
        yield* sleep(context, options.gatherSeconds);
      }
    }
    const sent = yield* untilNotBusy(context, () => call(sendApimUpdate, { serviceId, updateId }, policy), {
      policy,
      deadlineSeconds: policy.busyDeadlineSeconds,
      describe: `Updating APIM service ${serviceId}`,
      ...(cancel ? { cancel } : {}),
      beforeAttempt: () => renewLease(lease, policy, serviceId),
    });
    switch (sent.status) {
      case "empty":
        return { sentNothing: true };
      case "failed":
        // Refused, and settled by the activity.
        return {};
      case "busyTimeout":
        // Give the lease back; the next holder (or this one, later) tries again.
        yield* settleAs({ status: "abandoned" });
        return { busy: sent.message, sentNothing: true };
      case "cancelled":
        yield* settleAs({ status: "abandoned" });
        return { stop: CANCELLED };
      case "stopped":
        // The lease was lost: its new holder resends what this update claimed.
        yield* settleAs({ status: "abandoned" });
        return {};
      case "applied":
        break;
    }
    const waited = yield* waitFor(
      context,
      {
        check: {
          kind: "apimProvisioned",
          serviceId,
          hostnames: sent.expect.map((h) => ({ hostName: h.hostName, keyVaultId: h.keyVaultId })),
        },
        describe: `APIM service ${serviceId} provisioning update ${round} (${sent.requestIds.length} change(s))`,
        deadline: after(context, options.provisionDeadlineSeconds).toISOString(),
        firstIntervalSeconds: options.pollIntervalSeconds,
        policy,
        lease,
      },
      pollInstanceId(owner, round),
      cancel,
    );
    const v = waited.value;
    switch (v.status) {
      case "done":
        yield* settleAs({ status: "done" });
        return waited.cancelled ? { stop: CANCELLED } : {};
      case "timeout":
        yield* settleAs({
          status: "failed",
          reason: "ProvisioningTimeout",
          message: `APIM service ${serviceId} was still ${v.evidence.state ?? "updating"} after ${Math.round(options.provisionDeadlineSeconds)} s.`,
          isolate: false,
        });
        return {};
      case "failed":
        yield* settleAs({ status: "failed", reason: v.reason, message: v.message, isolate: true });
        return {};
      case "cancelled":
        yield* settleAs({ status: "abandoned" });
        return { stop: CANCELLED };
      case "leaseLost":
        yield* settleAs({ status: "abandoned" });
        return {};
    }
  } catch (error) {
    // Every retry of one of its steps threw. The update's changes must not stay claimed by it: the
    // next holder (another rollout) would send them after this one ended. Queue them again and stop;
    // this change is then withdrawn, and rolled back from its snapshot if the update may have landed.
    const first = (error instanceof Error ? error.message : String(error)).split("\n")[0]?.slice(0, 400);
    try {
      yield* settleAs({ status: "abandoned" });
    } catch {
      // Storage is down too: the changes stay claimed and the next holder resends them.
    }
    return {
      stop: {
        reason: "ActivityFailed",
        message: `APIM update ${round} of ${serviceId} failed after every retry: ${first ?? ""}`,
      },
    };
  } finally {
    yield* call(releaseLock, { resourceKey: serviceId, owner }, policy);
  }
}
