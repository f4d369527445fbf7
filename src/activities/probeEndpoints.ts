/**
 * Activity `probeEndpoints`: Real TLS handshakes (and an HTTPS request through the chain) for a stage's probes.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ProbeEndpointsInput, ProbeEndpointsOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Real TLS handshakes (and an HTTPS request through the chain) for a stage's probes. */
export async function probeEndpointsHandler(
  input: ProbeEndpointsInput,
  context: InvocationContext,
): Promise<ProbeEndpointsOutput> {
  void input;
  void context;
  throw new Error("probeEndpoints is not implemented yet.");
}

/** The registered activity; orchestrators yield `probeEndpoints(input)`. */
export const probeEndpoints: TypedActivity<ProbeEndpointsInput, ProbeEndpointsOutput> = df.app.activity(
  "probeEndpoints",
  { handler: probeEndpointsHandler },
);
