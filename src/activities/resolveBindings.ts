/**
 * Activity `resolveBindings`: bindings of one certificate — discovery across the configured scopes
 * plus the explicit bindings file, merged — and what could not be read that might bind it.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { discoverBindings } from "../discovery.js";
import type { ResolveBindingsInput, ResolveBindingsOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Bindings of one certificate, discovered and explicit, merged. */
export async function resolveBindingsHandler(
  input: ResolveBindingsInput,
  context: InvocationContext,
): Promise<ResolveBindingsOutput> {
  const r = await discoverBindings(composition(), input.certificate);
  context.log(
    `resolveBindings: ${input.certificate.vaultName}/${input.certificate.certificateName} has ${r.bindings.length} binding(s), ${r.warnings.length} warning(s).`,
  );
  for (const w of r.warnings) context.warn(`resolveBindings: ${w.reason}: ${w.message}`);
  for (const i of r.ignored ?? []) context.warn(`resolveBindings: ${i.reason}: ${i.message}`);
  for (const w of r.unrelated ?? [])
    context.warn(`resolveBindings: not blocking (cannot bind this certificate): ${w.reason}: ${w.message}`);
  return {
    bindings: r.bindings,
    warnings: r.warnings,
    ignored: r.ignored ?? [],
    ...(r.unrelated?.length ? { unrelated: r.unrelated } : {}),
  };
}

/** The registered activity; orchestrators yield `resolveBindings(input)`. */
export const resolveBindings: TypedActivity<ResolveBindingsInput, ResolveBindingsOutput> = df.app.activity(
  "resolveBindings",
  { handler: resolveBindingsHandler },
);
