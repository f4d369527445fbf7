/**
 * Trigger `driftRepair` (timer, schedule `%DRIFT_SCHEDULE%`): starts one `driftScan` per scheduled
 * occurrence (instance id to the minute of the occurrence from the timer's schedule status, not the
 * clock, so a timer that fires twice for one occurrence starts one scan), with a random jitter the
 * scan waits first. `POST /admin/functions/driftRepair` (master key) runs it now.
 */
import type { InvocationContext, Timer } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { appConfig } from "../src/config.js";
import { drawJitterSeconds, scheduledOccurrence } from "../src/domain/driftTimer.js";
import { driftScanInstanceId } from "../src/domain/instanceIds.js";
import { rolloutPolicyFrom, type DriftScanInput } from "../src/orchestrations/policy.js";
import { findStatus } from "../src/triggers/instanceStatus.js";

/** Starts the scan of this run. */
export async function driftRepairHandler(
  timer: unknown,
  client: DurableClient,
  context: InvocationContext,
): Promise<void> {
  const config = appConfig();
  // One time for the id and the input: the occurrence this run is for (see scheduledOccurrence).
  const scheduledFor = scheduledOccurrence(timer, new Date());
  const instanceId = driftScanInstanceId(scheduledFor);
  const existing = await findStatus(client, instanceId);
  if (existing) {
    context.log(
      `Drift scan ${instanceId} exists already (${String(existing.runtimeStatus)}); nothing new starts.`,
    );
    return;
  }
  const input: DriftScanInput = {
    scheduledFor: scheduledFor.toISOString(),
    jitterSeconds: drawJitterSeconds(config, Math.random()),
    mode: config.drift.mode,
    policy: rolloutPolicyFrom(config),
  };
  await client.startNew("driftScan", { instanceId, input });
  const pastDue = (timer as Partial<Timer> | undefined)?.isPastDue ? " (past due)" : "";
  context.log(
    `Started drift scan ${instanceId}${pastDue} in ${config.drift.mode} mode after ${input.jitterSeconds} s of jitter.`,
  );
}

df.app.client.timer("driftRepair", { schedule: "%DRIFT_SCHEDULE%", handler: driftRepairHandler });
