/**
 * Reading an orchestration's status through a Durable client: "no such instance" is an answer, not
 * an error, and a trigger that has just started an instance confirms it runs its own request.
 */
import type { DurableClient, DurableOrchestrationStatus } from "durable-functions";
import { isRunning, startedBy, type StartConfirmation } from "../domain/rolloutInstance.js";

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
): Promise<StartConfirmation<DurableOrchestrationStatus>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await findStatus(client, instanceId, { showInput: true });
    const late = Date.now() >= deadline;
    if (status && (String(status.runtimeStatus) !== "Pending" || late)) return startedBy(status, requestId);
    if (late) throw new Error(`Instance ${instanceId} was started, but no status of it can be read.`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Polls an instance until it has ended: its status, or undefined when it still runs (or cannot be
 * read) after `waitMs`.
 */
export async function waitForEnd(
  client: DurableClient,
  instanceId: string,
  waitMs: number,
): Promise<DurableOrchestrationStatus | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const status = await findStatus(client, instanceId);
    if (status && !isRunning(status)) return status;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, 250));
  }
}
