/**
 * Small deterministic building blocks the orchestrators compose with `yield*`: a typed activity call
 * with automatic retry (for the conditions an activity throws for), a durable wait that a "cancel"
 * event interrupts, waiting for sub-orchestrations while passing a cancel on to them, a loop that
 * calls a write again (with backoff, a bounded number of times) while its target answers `busy`, and
 * the renewal of a lease on one resource (see ./apimChange.ts).
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task, TimerTask } from "durable-functions";
import { acquireLock } from "../activities/acquireLock.js";
import { raiseCancel } from "../activities/raiseCancel.js";
import type { ActivityOutput, TypedActivity } from "../activities/typed.js";
import { cancelledWhileBusy, leaseLost, stayedBusy } from "../domain/reasons.js";
import type { Reasoned } from "../domain/rollback.js";
import { busyWaitSeconds } from "./backoff.js";
import { waitSettings, type RolloutPolicy } from "./policy.js";

/** A generator an orchestrator delegates to with `yield*`. */
export type Flow<T> = Generator<Task, T, unknown>;

/** Retry options for activities that threw (retriable conditions only, by convention). */
export function retryOptions(policy: Pick<RolloutPolicy, "retryFirstIntervalSeconds" | "retryMaxAttempts">) {
  const options = new df.RetryOptions(
    Math.max(1, Math.round(policy.retryFirstIntervalSeconds * 1000)),
    policy.retryMaxAttempts,
  );
  options.backoffCoefficient = 2;
  return options;
}

/** Calls a typed activity with retry and returns its typed output. Throws when every attempt threw. */
export function* call<A extends TypedActivity<never, unknown>>(
  activity: A,
  input: Parameters<A>[0],
  policy: Pick<RolloutPolicy, "retryFirstIntervalSeconds" | "retryMaxAttempts">,
): Flow<ActivityOutput<A>> {
  return (yield activity(input).withRetry(retryOptions(policy))) as ActivityOutput<A>;
}

/** The orchestration's clock plus `seconds`. */
export const after = (context: OrchestrationContext, seconds: number): Date =>
  new Date(context.df.currentUtcDateTime.getTime() + Math.max(0, seconds) * 1000);

/** Waits on a durable timer. */
export function* sleep(context: OrchestrationContext, seconds: number): Flow<void> {
  yield context.df.createTimer(after(context, seconds));
}

/**
 * Waits on a durable timer unless `cancel` (an external-event task) completes first. Returns true
 * when the cancel request arrived.
 */
export function* sleepUnlessCancelled(
  context: OrchestrationContext,
  seconds: number,
  cancel: Task,
): Flow<boolean> {
  if (cancel.isCompleted) return true;
  const timer: TimerTask = context.df.createTimer(after(context, seconds));
  const winner = yield context.df.Task.any([timer, cancel]);
  if (winner === cancel) {
    timer.cancel();
    return true;
  }
  return false;
}

/**
 * Whether a "cancel" event has arrived by now. An external event that arrived before its task was
 * first yielded only completes the task once it is yielded, so this races it against a zero timer.
 */
export function* cancelRequested(context: OrchestrationContext, cancel: Task): Flow<boolean> {
  return yield* sleepUnlessCancelled(context, 0, cancel);
}

/**
 * Starts sub-orchestrations (`start` makes the task: one child or a `Task.all` of them) and waits for
 * them unless a "cancel" event arrives first; then passes the cancel on to `childIds` (they stop
 * their waits and answer) and still waits, so the caller always gets the children's own answers.
 * A cancel that had already arrived starts nothing (`started` false). `cancelled` tells whether a
 * cancel was heard.
 */
export function* awaitChildren<T>(
  context: OrchestrationContext,
  start: () => Task,
  childIds: string[],
  cancel: Task,
  policy: RolloutPolicy,
): Flow<{ started: false; cancelled: true } | { started: true; value: T; cancelled: boolean }> {
  // Checked first: a child started after its cancel was passed on would never hear it.
  if (yield* cancelRequested(context, cancel)) return { started: false, cancelled: true };
  const task = start();
  const winner = yield context.df.Task.any([task, cancel]);
  const cancelled = winner === cancel;
  if (cancelled && !task.isCompleted && !task.isFaulted) yield* forwardCancel(context, childIds, policy);
  return { started: true, value: (yield task) as T, cancelled };
}

/** Raises "cancel" at each running instance of `instanceIds`; a failure only means they run to their deadlines. */
export function* forwardCancel(
  context: OrchestrationContext,
  instanceIds: string[],
  policy: RolloutPolicy,
): Flow<void> {
  if (instanceIds.length === 0) return;
  try {
    yield* call(raiseCancel, { instanceIds, from: context.df.instanceId }, policy);
  } catch (error) {
    if (!context.df.isReplaying)
      context.warn(
        `${context.df.instanceId}: passing the cancel on to ${instanceIds.join(", ")} failed (${error instanceof Error ? error.message.split("\n")[0] : String(error)}); they stop at their deadlines.`,
      );
  }
}

/** A write's answer in the `busy` convention of the activity contract. */
type BusyAware = { status: string };

/** What a busy answer may say had landed already (see `WriteOutcome`): the caller must roll back from it. */
type Partial = { partial?: { snapshot: unknown } };

/**
 * The final answer of {@link untilNotBusy}: the write's own non-busy answer, or why it stopped
 * trying. `partial` carries the last busy answer's `partial` (part of the write had landed): the
 * write then counts as `unknown`, to be rolled back from that snapshot.
 */
export type NotBusy<O> =
  | Exclude<O, { status: "busy" }>
  /** Still busy after the attempts or the deadline: the target fails with reason `Busy`. */
  | ({ status: "busyTimeout"; message: string } & Partial)
  /** A "cancel" event arrived while waiting; nothing more was written since. */
  | ({ status: "cancelled"; message: string } & Partial)
  /** `beforeAttempt` refused (the lease was lost): nothing more was written. */
  | ({ status: "stopped" } & Reasoned & Partial);

/** Options of {@link untilNotBusy}. */
export interface UntilNotBusyOptions {
  policy: RolloutPolicy;
  /** How long the target may stay busy, in orchestration seconds. */
  deadlineSeconds: number;
  /** What is being written, for the timeout sentence. */
  describe: string;
  /** The instance's "cancel" event task: ends the wait between two attempts. */
  cancel?: Task;
  /** Runs before every attempt (renews a lease); a reason stops the loop before writing. */
  beforeAttempt?: () => Flow<Reasoned | undefined>;
}

/**
 * Calls `attempt` until it answers something other than `busy`. Between attempts it waits on a
 * durable timer: exponential backoff from `busyFloorSeconds` (never less, whatever the Retry-After)
 * up to `pollMaxIntervalSeconds`, or the service's Retry-After when longer, with jitter derived from
 * the instance id and the attempt (deterministic). Gives up after `busyMaxAttempts` attempts or at
 * the deadline, whichever comes first.
 */
export function* untilNotBusy<O extends BusyAware>(
  context: OrchestrationContext,
  attempt: () => Flow<O>,
  options: UntilNotBusyOptions,
): Flow<NotBusy<O>> {
  const { policy, describe } = options;
  const settings = waitSettings(policy);
  const startedAt = context.df.currentUtcDateTime.getTime();
  const deadline = after(context, options.deadlineSeconds).getTime();
  const backoff = {
    firstSeconds: settings.busyFloorSeconds,
    capSeconds: settings.pollMaxIntervalSeconds,
    floorSeconds: settings.busyFloorSeconds,
  };
  let partial: Partial = {};
  for (let n = 0; ; n++) {
    if (options.beforeAttempt) {
      const stop = yield* options.beforeAttempt();
      if (stop) return { status: "stopped", ...stop, ...partial };
    }
    const answer = yield* attempt();
    if (answer.status !== "busy") return answer as Exclude<O, { status: "busy" }>;
    const busy = answer as BusyAware &
      Partial & {
        retryAfterSeconds?: number;
        retryAfterSource?: "service" | "default";
        message?: string;
      };
    if (busy.partial) partial = { partial: busy.partial };
    const wait = busyWaitSeconds(n, busy, backoff, `${context.df.instanceId}|${describe}`);
    const attempts = n + 1;
    if (
      attempts >= settings.busyMaxAttempts ||
      context.df.currentUtcDateTime.getTime() + wait * 1000 > deadline
    ) {
      const elapsedSeconds = (context.df.currentUtcDateTime.getTime() - startedAt) / 1000;
      return {
        status: "busyTimeout",
        message: stayedBusy({ describe, attempts, elapsedSeconds, last: busy.message }),
        ...partial,
      };
    }
    if (options.cancel) {
      if (yield* sleepUnlessCancelled(context, wait, options.cancel))
        return { status: "cancelled", message: cancelledWhileBusy(describe), ...partial };
    } else {
      yield* sleep(context, wait);
    }
  }
}

/** A lease this instance holds on a resource (the key `acquireLock` and `releaseLock` take). */
export interface Lease {
  resourceKey: string;
  owner: string;
  leaseSeconds: number;
}

/** Renews a lease through `acquireLock` (the same owner extends its own lease). */
export function* renewLease(
  lease: Lease,
  policy: RolloutPolicy,
  describe: string,
): Flow<Reasoned | undefined> {
  const answer = yield* call(
    acquireLock,
    { resourceKey: lease.resourceKey, owner: lease.owner, leaseSeconds: lease.leaseSeconds },
    policy,
  );
  return answer.acquired ? undefined : leaseLost(describe, answer.heldBy);
}
