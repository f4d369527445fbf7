/**
 * Activity `resolveBindings`: Bindings of one certificate: discovery across the configured scopes plus the explicit bindings file, merged.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ResolveBindingsInput, ResolveBindingsOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Bindings of one certificate: discovery across the configured scopes plus the explicit bindings file, merged. */
export async function resolveBindingsHandler(
  input: ResolveBindingsInput,
  context: InvocationContext,
): Promise<ResolveBindingsOutput> {
  void input;
  void context;
  throw new Error("resolveBindings is not implemented yet.");
}

/** The registered activity; orchestrators yield `resolveBindings(input)`. */
export const resolveBindings: TypedActivity<ResolveBindingsInput, ResolveBindingsOutput> = df.app.activity(
  "resolveBindings",
  { handler: resolveBindingsHandler },
);
