/**
 * Activity `startRenewal`: Begins a new version with the existing policy when the issuer allows it (idempotent while one is pending).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { StartRenewalInput, StartRenewalOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Begins a new version with the existing policy when the issuer allows it (idempotent while one is pending). */
export async function startRenewalHandler(
  input: StartRenewalInput,
  context: InvocationContext,
): Promise<StartRenewalOutput> {
  void input;
  void context;
  throw new Error("startRenewal is not implemented yet.");
}

/** The registered activity; orchestrators yield `startRenewal(input)`. */
export const startRenewal: TypedActivity<StartRenewalInput, StartRenewalOutput> = df.app.activity(
  "startRenewal",
  { handler: startRenewalHandler },
);
