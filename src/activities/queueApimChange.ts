/**
 * Activity `queueApimChange`: queues a rollout's (or a rollback's) change to one APIM service, to be
 * sent in the next update of that service together with the changes of other rollouts (see
 * src/domain/apimBatch.ts). Idempotent per request id.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { apimServiceId } from "../azure/apim.js";
import { enqueueChange } from "../azure/apimQueue.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import type { QueueApimChangeInput, QueueApimChangeOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Queues the change (once). */
export async function queueApimChangeHandler(
  input: QueueApimChangeInput,
  context: InvocationContext,
): Promise<QueueApimChangeOutput> {
  const c = composition();
  const name = apimServiceId(input.serviceId).name;
  try {
    const stored = await enqueueChange(await c.lockTable(), input.serviceId, input.change, c.now());
    context.log(
      `queueApimChange: ${input.change.requestId} queued for APIM ${name} (${input.change.hostnames.length} hostname(s), ${input.change.certificates.length} certificate(s)).`,
    );
    return { queuedAt: stored.queuedAt };
  } catch (e) {
    const f = describeSdkError(e, `Queueing a change for APIM ${name}`);
    context.warn(`queueApimChange: ${f.message}`);
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `queueApimChange(input)`. */
export const queueApimChange: TypedActivity<QueueApimChangeInput, QueueApimChangeOutput> = df.app.activity(
  "queueApimChange",
  { handler: queueApimChangeHandler },
);
