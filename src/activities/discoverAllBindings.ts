/**
 * Activity `discoverAllBindings`: every binding of every certificate in the configured scopes
 * (drift scan, inventory).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { discoverBindings } from "../discovery.js";
import type { DiscoverAllBindingsInput, DiscoverAllBindingsOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Every binding of every certificate in the configured scopes. */
export async function discoverAllBindingsHandler(
  input: DiscoverAllBindingsInput,
  context: InvocationContext,
): Promise<DiscoverAllBindingsOutput> {
  void input;
  const r = await discoverBindings(composition());
  context.log(`discoverAllBindings: ${r.bindings.length} binding(s), ${r.warnings.length} warning(s).`);
  for (const w of r.warnings) context.warn(`discoverAllBindings: ${w.reason}: ${w.message}`);
  return { bindings: r.bindings, warnings: r.warnings, ignored: r.ignored ?? [] };
}

/** The registered activity; orchestrators yield `discoverAllBindings({})`. */
export const discoverAllBindings: TypedActivity<DiscoverAllBindingsInput, DiscoverAllBindingsOutput> =
  df.app.activity("discoverAllBindings", { handler: discoverAllBindingsHandler });
