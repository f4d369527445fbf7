/**
 * Test helpers for the APIM update queue: queue one apply change and send it as one update, and
 * empty a service's queue between tests (the queue lives in the shared Azurite table).
 */
import type { TableClient } from "@azure/data-tables";
import { queueApimChangeHandler } from "../../../src/activities/queueApimChange.js";
import { sendApimUpdateHandler } from "../../../src/activities/sendApimUpdate.js";
import { queuePartition } from "../../../src/azure/apimQueue.js";
import { applyChange } from "../../../src/domain/apimBatch.js";
import type { ApimServiceStep } from "../../../src/domain/plan.js";
import type { ActivityWorld } from "./activitySupport.js";

/** Queues the rollout's change for `step` and sends the service's next update (`updateId`). */
export async function queueAndSend(
  w: ActivityWorld,
  step: ApimServiceStep,
  rotationId: string,
  updateId?: string,
) {
  await queueApimChangeHandler(
    { serviceId: step.serviceId, change: applyChange(rotationId, step) },
    w.context(),
  );
  return sendApimUpdateHandler(
    { serviceId: step.serviceId, updateId: updateId ?? `${rotationId}#1` },
    w.context(),
  );
}

/** Deletes every queued change of the service. */
export async function clearQueue(w: ActivityWorld, serviceId: string): Promise<void> {
  const table: TableClient = await w.composition.lockTable();
  const filter = `PartitionKey eq '${queuePartition(serviceId)}'`;
  for await (const e of table.listEntities({ queryOptions: { filter } }))
    await table.deleteEntity(e.partitionKey as string, e.rowKey as string);
}
