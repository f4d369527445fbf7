/**
 * Activity `readDeployed`: the thumbprint each binding is configured with now (unknown where it
 * cannot be read), for preflight's "already deployed" check.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { bindingId } from "../domain/bindings.js";
import { readConfigured } from "../observe.js";
import type { ReadDeployedInput, ReadDeployedOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Reads each binding's configured thumbprint. */
export async function readDeployedHandler(
  input: ReadDeployedInput,
  context: InvocationContext,
): Promise<ReadDeployedOutput> {
  const c = composition();
  const deployed = await Promise.all(
    input.bindings.map(async (b) => {
      try {
        const r = await readConfigured(c, b);
        return { bindingId: bindingId(b), ...(r.thumbprint ? { thumbprint: r.thumbprint } : {}) };
      } catch (e) {
        const f = describeSdkError(e, `Reading ${bindingId(b)}`);
        if (f.kind === "retriable") throw retriable(f);
        context.warn(`readDeployed: ${f.message}`);
        return { bindingId: bindingId(b) };
      }
    }),
  );
  return { deployed };
}

/** The registered activity; orchestrators yield `readDeployed(input)`. */
export const readDeployed: TypedActivity<ReadDeployedInput, ReadDeployedOutput> = df.app.activity(
  "readDeployed",
  {
    handler: readDeployedHandler,
  },
);
