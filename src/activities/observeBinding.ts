/**
 * Activity `observeBinding`: what a binding is configured with and what its endpoints serve, for the
 * drift scan. Client certificates and CA bundles are not probed for a thumbprint (their handshake
 * shows someone else's leaf).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { bindingId, probeTargets } from "../domain/bindings.js";
import type { ConfiguredObservation, ServedObservation } from "../domain/drift.js";
import { readConfigured } from "../observe.js";
import { probeOne } from "./probeEndpoints.js";
import type { ObserveBindingInput, ObserveBindingOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Observes one binding. */
export async function observeBindingHandler(
  input: ObserveBindingInput,
  context: InvocationContext,
): Promise<ObserveBindingOutput> {
  const c = composition();
  const b = input.binding;
  let configured: ConfiguredObservation;
  try {
    configured = (await readConfigured(c, b)).configured;
  } catch (e) {
    const f = describeSdkError(e, `Reading ${bindingId(b)}`);
    if (f.kind === "retriable") throw retriable(f);
    configured = { status: "unknown", message: f.message };
  }
  const roots = await c.trustedRoots();
  const served: ServedObservation[] = [];
  for (const p of probeTargets(b)) {
    if (p.expect !== "serves") {
      served.push({ hostName: p.hostName, status: "notProbed" });
      continue;
    }
    for (const e of await probeOne(c, p, roots)) {
      served.push(
        e.servedThumbprint && e.detail && !/chain:|name:/.test(e.detail)
          ? { hostName: e.hostName, status: "served", thumbprint: e.servedThumbprint }
          : { hostName: e.hostName, status: "unreachable", message: e.detail ?? "no handshake" },
      );
    }
  }
  context.log(
    `observeBinding: ${bindingId(b)}: ${configured.status}, ${served.length} endpoint observation(s).`,
  );
  return { bindingId: bindingId(b), configured, served };
}

/** The registered activity; orchestrators yield `observeBinding(input)`. */
export const observeBinding: TypedActivity<ObserveBindingInput, ObserveBindingOutput> = df.app.activity(
  "observeBinding",
  { handler: observeBindingHandler },
);
