/**
 * Activity `discoverAllBindings`: Every binding of every certificate in the configured scopes (drift scan, inventory).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DiscoverAllBindingsInput, DiscoverAllBindingsOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Every binding of every certificate in the configured scopes (drift scan, inventory). */
export async function discoverAllBindingsHandler(
  input: DiscoverAllBindingsInput,
  context: InvocationContext,
): Promise<DiscoverAllBindingsOutput> {
  void input;
  void context;
  throw new Error("discoverAllBindings is not implemented yet.");
}

/** The registered activity; orchestrators yield `discoverAllBindings(input)`. */
export const discoverAllBindings: TypedActivity<DiscoverAllBindingsInput, DiscoverAllBindingsOutput> =
  df.app.activity("discoverAllBindings", { handler: discoverAllBindingsHandler });
