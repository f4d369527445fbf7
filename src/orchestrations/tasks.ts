/**
 * Small deterministic building blocks the orchestrators compose with `yield*`: a typed activity call
 * with automatic retry (for the conditions an activity throws for), a durable wait, a loop that
 * calls a write again while its target answers `busy`, and a lease on one resource held across a
 * write and its provisioning.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task, TimerTask } from "durable-functions";
import { acquireLock } from "../activities/acquireLock.js";
import { releaseLock } from "../activities/releaseLock.js";
import type { ActivityOutput, TypedActivity } from "../activities/typed.js";
import { resourceLockId } from "../domain/instanceIds.js";
import type { RolloutPolicy } from "./policy.js";

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

/** A write's answer in the `busy` convention of the activity contract. */
type BusyAware = { status: string } & ({ status: "busy"; retryAfterSeconds: number } | { status: string });

/** The final answer of {@link untilNotBusy}: the write's own non-busy answer, or a timeout. */
export type NotBusy<O> = Exclude<O, { status: "busy" }> | { status: "busyTimeout"; message: string };

/**
 * Calls `attempt` until it answers something other than `busy`, waiting `retryAfterSeconds` (at
 * least 1 s, growing when the target does not say) on a durable timer between calls, up to
 * `deadlineSeconds`.
 */
export function* untilNotBusy<O extends BusyAware>(
  context: OrchestrationContext,
  attempt: () => Flow<O>,
  deadlineSeconds: number,
  describe: string,
): Flow<NotBusy<O>> {
  const deadline = after(context, deadlineSeconds).getTime();
  let wait = 1;
  for (;;) {
    const answer = yield* attempt();
    if (answer.status !== "busy") return answer as Exclude<O, { status: "busy" }>;
    const said = (answer as { retryAfterSeconds?: number }).retryAfterSeconds;
    const delay = said && said > 0 ? said : wait;
    wait = Math.min(wait * 2, 60);
    if (context.df.currentUtcDateTime.getTime() + delay * 1000 > deadline) {
      return {
        status: "busyTimeout",
        message: `${describe} stayed busy for ${Math.round(deadlineSeconds)} s; last answer: ${(answer as { message?: string }).message ?? "busy"}.`,
      };
    }
    yield* sleep(context, delay);
  }
}

/**
 * Runs `work` while holding the lease on `resourceKey` (updates to one resource never overlap, even
 * across rollouts of different certificates). Waits with durable timers while another instance holds
 * it, up to `deadlineSeconds`; releases it afterwards, also when `work` throws.
 */
export function* withResourceLock<T>(
  context: OrchestrationContext,
  resourceKey: string,
  leaseSeconds: number,
  deadlineSeconds: number,
  policy: RolloutPolicy,
  work: () => Flow<T>,
): Flow<{ locked: true; value: T } | { locked: false; message: string }> {
  const key = resourceLockId(resourceKey);
  const owner = context.df.instanceId;
  const deadline = after(context, deadlineSeconds).getTime();
  for (;;) {
    const lease = yield* call(acquireLock, { resourceKey: key, owner, leaseSeconds }, policy);
    if (lease.acquired) break;
    const delay = Math.max(1, lease.retryAfterSeconds);
    if (context.df.currentUtcDateTime.getTime() + delay * 1000 > deadline) {
      return {
        locked: false,
        message: `${resourceKey} stayed locked by ${lease.heldBy} for ${Math.round(deadlineSeconds)} s.`,
      };
    }
    yield* sleep(context, delay);
  }
  try {
    const value = yield* work();
    return { locked: true, value };
  } finally {
    yield* call(releaseLock, { resourceKey: key, owner }, policy);
  }
}
