/**
 * Activity `observeBinding`: What a binding is configured with and what its endpoints serve (drift).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ObserveBindingInput, ObserveBindingOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** What a binding is configured with and what its endpoints serve (drift). */
export async function observeBindingHandler(
  input: ObserveBindingInput,
  context: InvocationContext,
): Promise<ObserveBindingOutput> {
  void input;
  void context;
  throw new Error("observeBinding is not implemented yet.");
}

/** The registered activity; orchestrators yield `observeBinding(input)`. */
export const observeBinding: TypedActivity<ObserveBindingInput, ObserveBindingOutput> = df.app.activity(
  "observeBinding",
  { handler: observeBindingHandler },
);
