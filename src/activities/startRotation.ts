/**
 * Activity `startRotation`: starts `rotateCertificate` for one certificate under its deterministic
 * instance id, unless a rollout of that certificate is already running. Orchestrators cannot start
 * an independent orchestration themselves in JavaScript (only sub-orchestrations they wait for), so
 * the drift scan asks this activity, which holds a Durable client.
 *
 * Idempotent: a retry finds the rollout it started (by the request id in its input) and answers
 * `started` again; a rollout of someone else answers `alreadyRunning`.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { rotationInstanceId } from "../domain/instanceIds.js";
import { isRunning, startedBy, type StartConfirmation } from "../domain/rolloutInstance.js";
import type { RotationInput } from "../orchestrations/policy.js";
import { findStatus } from "../triggers/instanceStatus.js";
import { startRotationOnce } from "../triggers/startRotationOnce.js";
import type { TypedActivity } from "./typed.js";

/** Input of `startRotation`: the rotation's whole input. */
export type StartRotationInput = RotationInput;

/** Output of `startRotation`. */
export type StartRotationOutput =
  | { status: "started"; instanceId: string }
  /** Another rollout of the certificate has the instance; `by` names it. */
  | { status: "alreadyRunning"; instanceId: string; runtimeStatus: string; by?: string };

/**
 * Starts the rotation unless one of the certificate is running. The request id is the trigger's
 * `requestId` (the drift scan's id): a retry of this activity recognises the rollout it started.
 */
export async function startRotationHandler(
  input: StartRotationInput,
  context: InvocationContext,
): Promise<StartRotationOutput> {
  const client = df.getClient(context);
  const instanceId = rotationInstanceId(input.certificate);
  const requestId = input.trigger.requestId ?? input.trigger.detail;
  const request: StartRotationInput = { ...input, trigger: { ...input.trigger, requestId } };
  const other = (s: StartConfirmation): StartRotationOutput => ({
    status: "alreadyRunning",
    instanceId,
    runtimeStatus: String(s.status.runtimeStatus),
    ...(s.ours ? {} : { by: s.by }),
  });
  const existing = await findStatus(client, instanceId, { showInput: true });
  if (existing) {
    const seen = startedBy(existing, requestId);
    if (seen.ours) return { status: "started", instanceId };
    if (isRunning(existing)) return other(seen);
  }
  const start = await startRotationOnce(client, instanceId, request, { requestId });
  switch (start.kind) {
    case "raced":
      // Lost a race with another starter: that rollout is running now.
      if (start.seen && isRunning(start.seen.status)) return other(start.seen);
      throw start.error;
    case "superseded":
      context.log(`${instanceId}: superseded by ${start.by} (${input.trigger.detail}).`);
      return other({ ours: false, by: start.by, status: start.status });
    case "started":
      context.log(`Started ${instanceId} (${input.trigger.detail}).`);
      return { status: "started", instanceId };
  }
}

/** The registered activity; the drift scan yields `startRotation(input)`. */
export const startRotation: TypedActivity<StartRotationInput, StartRotationOutput> = df.app.activity(
  "startRotation",
  { extraInputs: [df.input.durableClient()], handler: startRotationHandler },
);
