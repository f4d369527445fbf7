/**
 * Starting a certificate's rotation as a singleton and confirming the instance runs this request:
 * what the event trigger, the rollouts API and the `startRotation` activity share. Each keeps its
 * own check before the start and its own answer to each outcome.
 */
import type { DurableClient, DurableOrchestrationStatus } from "durable-functions";
import { isRunning, lostToAnother, type StartConfirmation } from "../domain/rolloutInstance.js";
import type { RotationInput } from "../orchestrations/policy.js";
import { confirmStart } from "./instanceStatus.js";

/** The answer of {@link startRotationOnce}. */
export type StartOnce =
  /** The instance runs this request's rollout. */
  | { kind: "started"; status: DurableOrchestrationStatus }
  /** `startNew` returned, but the instance runs another request's rollout (two starts raced). */
  | { kind: "superseded"; by: string; status: DurableOrchestrationStatus }
  /**
   * `startNew` failed, most often because another request's instance exists: `seen` is what the
   * instance shows now (absent when it cannot be read), `error` what `startNew` threw.
   */
  | { kind: "raced"; error: unknown; seen?: StartConfirmation<DurableOrchestrationStatus> };

/** Options of {@link startRotationOnce}. */
export interface StartOnceOptions {
  /** The id the rollout's input carries as `trigger.requestId`: how the instance is recognised as ours. */
  requestId: string;
  /**
   * How long to wait, after a failed `startNew`, for the other instance to leave Pending before
   * reading it. Default 0: read it once.
   */
  raceWaitMs?: number;
}

/**
 * Starts `rotateCertificate` under `instanceId` and tells whose rollout the instance runs. The
 * singleton check before `startNew` is not atomic on Azure Storage (two concurrent starts can both
 * return while only one instance runs), so the start is confirmed by reading back the request id
 * from the instance's input, for up to `START_CONFIRM_TIMEOUT_MS`.
 */
export async function startRotationOnce(
  client: DurableClient,
  instanceId: string,
  input: RotationInput,
  options: StartOnceOptions,
): Promise<StartOnce> {
  const attemptedAt = Date.now();
  try {
    await client.startNew("rotateCertificate", { instanceId, input });
  } catch (error) {
    const seen = await readRacer(client, instanceId, options, attemptedAt);
    return { kind: "raced", error, ...(seen ? { seen } : {}) };
  }
  const confirmed = await confirmStart(client, instanceId, options.requestId);
  return confirmed.ours
    ? { kind: "started", status: confirmed.status }
    : { kind: "superseded", by: confirmed.by, status: confirmed.status };
}

/**
 * What the instance shows after a failed start. While another request's start is still replacing a
 * finished instance, the status read is that old instance (neither running nor recent): keep reading
 * until the racer's own instance shows, up to `raceWaitMs`.
 */
async function readRacer(
  client: DurableClient,
  instanceId: string,
  options: StartOnceOptions,
  attemptedAt: number,
): Promise<StartConfirmation<DurableOrchestrationStatus> | undefined> {
  const deadline = attemptedAt + (options.raceWaitMs ?? 0);
  for (;;) {
    const left = Math.max(0, deadline - Date.now());
    const seen = await confirmStart(client, instanceId, options.requestId, left).catch(() => undefined);
    const settled = seen && (seen.ours || isRunning(seen.status) || lostToAnother(seen, attemptedAt));
    if (settled || Date.now() >= deadline) return seen;
    await new Promise((r) => setTimeout(r, 200));
  }
}
