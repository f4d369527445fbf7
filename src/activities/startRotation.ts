/**
 * Activity `startRotation`: starts `rotateCertificate` for one certificate under its deterministic
 * instance id, unless a rollout of that certificate is already running. Orchestrators cannot start
 * an independent orchestration themselves in JavaScript (only sub-orchestrations they wait for), so
 * the drift scan asks this activity, which holds a Durable client.
 *
 * Idempotent: a retry finds the rollout it started running and answers `alreadyRunning`.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { rotationInstanceId } from "../domain/instanceIds.js";
import type { RotationInput } from "../orchestrations/policy.js";
import type { TypedActivity } from "./typed.js";

/** Input of `startRotation`: the rotation's whole input. */
export type StartRotationInput = RotationInput;

/** Output of `startRotation`. */
export type StartRotationOutput =
  | { status: "started"; instanceId: string }
  | { status: "alreadyRunning"; instanceId: string; runtimeStatus: string };

const RUNNING = new Set(["Running", "Pending", "ContinuedAsNew", "Suspended"]);

/** Starts the rotation unless one of the certificate is running. */
export async function startRotationHandler(
  input: StartRotationInput,
  context: InvocationContext,
): Promise<StartRotationOutput> {
  const client = df.getClient(context);
  const instanceId = rotationInstanceId(input.certificate);
  const existing = await client.getStatus(instanceId).catch(() => undefined);
  if (existing && RUNNING.has(String(existing.runtimeStatus))) {
    return { status: "alreadyRunning", instanceId, runtimeStatus: String(existing.runtimeStatus) };
  }
  try {
    await client.startNew("rotateCertificate", { instanceId, input });
  } catch (error) {
    // Lost a race with another starter: that rollout is running now.
    const again = await client.getStatus(instanceId).catch(() => undefined);
    if (again && RUNNING.has(String(again.runtimeStatus)))
      return { status: "alreadyRunning", instanceId, runtimeStatus: String(again.runtimeStatus) };
    throw error;
  }
  context.log(`Started ${instanceId} (${input.trigger.detail}).`);
  return { status: "started", instanceId };
}

/** The registered activity; the drift scan yields `startRotation(input)`. */
export const startRotation: TypedActivity<StartRotationInput, StartRotationOutput> = df.app.activity(
  "startRotation",
  { extraInputs: [df.input.durableClient()], handler: startRotationHandler },
);
