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
import type { SendApimUpdateOutput, TakeApimTurnOutput } from "../activities/contracts.js";
import type { ApimChange, BatchOutcome } from "../domain/apimBatch.js";
import { apimNotProvisioned, apimUpdateFailed, busy, CANCELLED, resourceLocked } from "../domain/reasons.js";
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
  type NotBusy,
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

/** What the turns of one change share; `rounds`, `waits` and `stopping` are carried across continue-as-new. */
interface ChangeRun {
  context: OrchestrationContext;
  input: ApimChangeInput;
  settings: ReturnType<typeof waitSettings>;
  /** This instance: the lease owner. */
  owner: string;
  /** The "cancel" event task, when the change is cancellable. */
  cancel: Task | undefined;
  /** ISO 8601: how long the change may wait for its update to start. */
  waitDeadline: string;
  /** Updates this instance sent. */
  rounds: number;
  /** Waits since this instance last led (for the backoff). */
  waits: number;
  generation: number;
  /** Why the change is stopping (it withdraws on its next turn). */
  stopping?: Reasoned;
}

function* apimChangeOrchestrator(context: OrchestrationContext): Flow<ApimQueueResult | undefined> {
  const run = startChange(context);
  const { input, settings } = run;
  show(run, "queued");
  // 1. Queue the change (the first execution only).
  if (!input.carried)
    yield* call(
      queueApimChange,
      { serviceId: input.serviceId, change: { ...input.change, withdrawBy: run.waitDeadline } },
      input.policy,
    );
  for (let turns = 0; ; turns++) {
    // 2. Bounded history: a fresh execution every few turns, carrying where it is (and a cancel heard).
    if (turns >= settings.pollRoundsPerExecution) {
      yield* continueChange(run);
      return undefined;
    }
    // 3. A turn: settled (answer), the lease (send an update), or another holder (wait).
    const turn = yield* call(
      takeApimTurn,
      {
        serviceId: input.serviceId,
        requestId: input.change.requestId,
        owner: run.owner,
        leaseSeconds: leaseSecondsFor(input.policy),
        withdraw: run.stopping !== undefined,
      },
      input.policy,
    );
    switch (turn.turn) {
      case "done":
      case "failed":
      case "withdrawn":
        return settledAs(run, turn);
      case "lead":
        yield* leadTurn(run);
        break;
      case "wait":
        yield* waitTurn(run, turn);
        break;
    }
  }
}

/** The run of this execution, from the input (and what the previous execution carried). */
function startChange(context: OrchestrationContext): ChangeRun {
  const input = context.df.getInput<ApimChangeInput>();
  const cancel: Task | undefined = input.cancellable ? context.df.waitForExternalEvent("cancel") : undefined;
  const { rounds, waits, stopping } = input.carried ?? { rounds: 0, waits: 0 };
  const waitDeadline =
    input.carried?.waitDeadline ?? after(context, waitDeadlineSecondsFor(input.policy)).toISOString();
  return {
    context,
    input,
    settings: waitSettings(input.policy),
    owner: context.df.instanceId,
    cancel,
    waitDeadline,
    rounds,
    waits,
    generation: input.carried?.generation ?? 0,
    ...(stopping ? { stopping } : {}),
  };
}

/** Sets the custom status (what the report shows of a queued change). */
function show(run: ChangeRun, state: ApimChangeStatus["state"], heldBy?: string): void {
  const status: ApimChangeStatus = {
    serviceId: run.input.serviceId,
    change: run.input.change.requestId,
    state,
    ...(heldBy ? { heldBy } : {}),
    updatesSent: run.rounds,
    generation: run.generation,
    ...(run.stopping ? { stopping: run.stopping.reason } : {}),
  };
  run.context.df.setCustomStatus(status);
}

/** Continues as new, carrying the wait deadline, the counters and why it is stopping (a cancel heard counts). */
function* continueChange(run: ChangeRun): Flow<void> {
  const { context, cancel } = run;
  if (!run.stopping && cancel && (yield* cancelRequested(context, cancel))) run.stopping = CANCELLED;
  const next: ApimChangeInput = {
    ...run.input,
    carried: {
      waitDeadline: run.waitDeadline,
      rounds: run.rounds,
      waits: run.waits,
      generation: run.generation + 1,
      ...(run.stopping ? { stopping: run.stopping } : {}),
    },
  };
  context.df.continueAsNew(next);
}

/** The change's answer once its turn says it is settled (done, failed or withdrawn). */
function settledAs(
  run: ChangeRun,
  turn: Extract<TakeApimTurnOutput, { turn: "done" | "failed" | "withdrawn" }>,
): ApimQueueResult {
  const snapshot = turn.snapshot ? { snapshot: turn.snapshot } : {};
  switch (turn.turn) {
    case "done":
      return { status: "done", ...snapshot, ...(run.stopping ? { stopped: run.stopping } : {}) };
    case "failed":
      return {
        status: "failed",
        write: turn.attemptedWrite ? "unknown" : "notApplied",
        ...snapshot,
        failure: { reason: turn.reason, message: turn.message },
      };
    case "withdrawn":
      return {
        status: "failed",
        write: turn.attemptedWrite ? "unknown" : "notApplied",
        ...snapshot,
        failure: run.stopping ?? CANCELLED,
      };
  }
}

/** This instance holds the lease: one update, then why to stop (a cancel, a lasting busy service), if so. */
function* leadTurn(run: ChangeRun): Flow<void> {
  const { context, settings } = run;
  run.rounds++;
  show(run, "sending");
  const round = yield* leadOneUpdate({
    context,
    input: run.input,
    round: run.rounds,
    cancel: run.stopping ? undefined : run.cancel,
  });
  if (!run.stopping && round.stop) run.stopping = round.stop;
  // The service stayed busy through this round: try again later, until the wait deadline.
  if (!run.stopping && round.busy && context.df.currentUtcDateTime.getTime() >= Date.parse(run.waitDeadline))
    run.stopping = busy(round.busy);
  run.waits = 0;
  // Nothing was sent although this change is not settled (a race with a claim): never spin.
  if (round.sentNothing) yield* sleep(context, settings.busyFloorSeconds);
}

/** Another instance holds the lease: wait with backoff (or the holder's hint), until a cancel or the wait deadline. */
function* waitTurn(run: ChangeRun, turn: Extract<TakeApimTurnOutput, { turn: "wait" }>): Flow<void> {
  const { context, settings, cancel } = run;
  show(run, "waiting", turn.heldBy);
  const backoff = {
    firstSeconds: settings.busyFloorSeconds,
    capSeconds: settings.pollMaxIntervalSeconds,
    floorSeconds: settings.busyFloorSeconds,
  };
  const wait = Math.max(
    backoffSeconds(run.waits++, backoff, `${run.owner}|apim-turn`),
    Math.min(turn.retryAfterSeconds, settings.pollMaxIntervalSeconds),
  );
  if (!run.stopping && context.df.currentUtcDateTime.getTime() + wait * 1000 > Date.parse(run.waitDeadline)) {
    run.stopping = resourceLocked({
      serviceId: run.input.serviceId,
      heldBy: turn.heldBy,
      waitSeconds: waitDeadlineSecondsFor(run.input.policy),
    });
    return;
  }
  if (!run.stopping && cancel) {
    if (yield* sleepUnlessCancelled(context, wait, cancel)) run.stopping = CANCELLED;
  } else {
    yield* sleep(context, wait);
  }
}

/** The registered orchestration; `applyTarget` and `restoreTarget` yield `apimChange(input, apimChangeInstanceId(…))`. */
export const apimChange = df.app.orchestration("apimChange", apimChangeOrchestrator);

export { apimChangeInstanceId } from "../domain/instanceIds.js";

/** Options of {@link leadOneUpdate}. */
interface LeadOptions {
  context: OrchestrationContext;
  input: ApimChangeInput;
  /** This instance's update number (1 for its first). */
  round: number;
  /** The "cancel" event task; undefined once the change is stopping anyway. */
  cancel: Task | undefined;
}

/** What one update round tells the change. */
interface LeadResult {
  /** Why the change should stop. */
  stop?: Reasoned;
  /** No update went out (nothing claimable, or the service stayed busy). */
  sentNothing?: boolean;
  /** The service stayed busy through the round: the busy sentence. */
  busy?: string;
}

/**
 * One update as the lease holder: gather, send (again while the service is busy, renewing the lease
 * before each attempt), wait for provisioning, settle, release the lease. Answers why the caller
 * should stop, if it should.
 */
function* leadOneUpdate(o: LeadOptions): Flow<LeadResult> {
  const { context, input, round, cancel } = o;
  const { policy, serviceId } = input;
  const owner = context.df.instanceId;
  const lease = { resourceKey: serviceId, owner, leaseSeconds: leaseSecondsFor(policy) };
  try {
    // 1. Gather: the first update waits so changes queued meanwhile go along.
    if (round === 1 && input.gatherSeconds > 0) {
      if (cancel) {
        if (yield* sleepUnlessCancelled(context, input.gatherSeconds, cancel)) return { stop: CANCELLED };
      } else {
        yield* sleep(context, input.gatherSeconds);
      }
    }
    // 2. Send every queued change in one PATCH, again while the service is busy.
    const updateId = updateIdOf(o);
    const sent = yield* untilNotBusy(context, () => call(sendApimUpdate, { serviceId, updateId }, policy), {
      policy,
      deadlineSeconds: policy.busyDeadlineSeconds,
      describe: `Updating APIM service ${serviceId}`,
      ...(cancel ? { cancel } : {}),
      beforeAttempt: () => renewLease(lease, policy, serviceId),
    });
    if (sent.status !== "applied") return yield* notSent(o, sent);
    // 3. Wait until the service provisioned it (renewing the lease every round), and settle.
    return yield* awaitProvisioning(o, sent);
  } catch (error) {
    // Every retry of one of its steps threw. The update's changes must not stay claimed by it: the
    // next holder (another rollout) would send them after this one ended. Queue them again and stop;
    // this change is then withdrawn, and rolled back from its snapshot if the update may have landed.
    try {
      yield* settleUpdate(o, { status: "abandoned" });
    } catch {
      // Storage is down too: the changes stay claimed and the next holder resends them.
    }
    return { stop: apimUpdateFailed({ round, serviceId, error }) };
  } finally {
    // 4. Release the lease, on every path.
    yield* call(releaseLock, { resourceKey: serviceId, owner }, policy);
  }
}

/** The id of one update: its sender and round. */
const updateIdOf = (o: LeadOptions) => `${o.context.df.instanceId}#${o.round}`;

/** Settles the changes the update claimed. */
const settleUpdate = (o: LeadOptions, outcome: BatchOutcome) =>
  call(settleApimUpdate, { serviceId: o.input.serviceId, updateId: updateIdOf(o), outcome }, o.input.policy);

/** Nothing went out (nothing queued, refused, busy, cancelled, lease lost): settle what was claimed. */
function* notSent(
  o: LeadOptions,
  sent: Exclude<NotBusy<SendApimUpdateOutput>, { status: "applied" }>,
): Flow<LeadResult> {
  switch (sent.status) {
    case "empty":
      return { sentNothing: true };
    case "failed":
      // Refused, and settled by the activity.
      return {};
    case "busyTimeout":
      // Give the lease back; the next holder (or this one, later) tries again.
      yield* settleUpdate(o, { status: "abandoned" });
      return { busy: sent.message, sentNothing: true };
    case "cancelled":
      yield* settleUpdate(o, { status: "abandoned" });
      return { stop: CANCELLED };
    case "stopped":
      // The lease was lost: its new holder resends what this update claimed.
      yield* settleUpdate(o, { status: "abandoned" });
      return {};
  }
}

/** Waits (a `pollUntil` holding the lease) until the service provisioned the update, then settles its changes. */
function* awaitProvisioning(
  o: LeadOptions,
  sent: Extract<SendApimUpdateOutput, { status: "applied" }>,
): Flow<LeadResult> {
  const { context, input, round } = o;
  const { policy, serviceId } = input;
  const owner = context.df.instanceId;
  const waited = yield* waitFor(
    context,
    {
      check: {
        kind: "apimProvisioned",
        serviceId,
        hostnames: sent.expect.map((h) => ({ hostName: h.hostName, keyVaultId: h.keyVaultId })),
      },
      describe: `APIM service ${serviceId} provisioning update ${round} (${sent.requestIds.length} change(s))`,
      deadline: after(context, input.provisionDeadlineSeconds).toISOString(),
      firstIntervalSeconds: input.pollIntervalSeconds,
      policy,
      lease: { resourceKey: serviceId, owner, leaseSeconds: leaseSecondsFor(policy) },
    },
    pollInstanceId(owner, round),
    o.cancel,
  );
  const v = waited.value;
  switch (v.status) {
    case "done":
      yield* settleUpdate(o, { status: "done" });
      return waited.cancelled ? { stop: CANCELLED } : {};
    case "timeout": {
      const late = apimNotProvisioned({
        serviceId,
        deadlineSeconds: input.provisionDeadlineSeconds,
        state: v.evidence.state,
      });
      yield* settleUpdate(o, { status: "failed", ...late, isolate: false });
      return {};
    }
    case "failed":
      yield* settleUpdate(o, { status: "failed", reason: v.reason, message: v.message, isolate: true });
      return {};
    case "cancelled":
    case "leaseLost":
      yield* settleUpdate(o, { status: "abandoned" });
      return v.status === "cancelled" ? { stop: CANCELLED } : {};
  }
}
