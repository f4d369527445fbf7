/**
 * Activity `applyFrontDoorProfile`: Creates the Front Door secret for the new version and repoints the custom domains to it.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ApplyFrontDoorProfileInput, ApplyFrontDoorProfileOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Creates the Front Door secret for the new version and repoints the custom domains to it. */
export async function applyFrontDoorProfileHandler(
  input: ApplyFrontDoorProfileInput,
  context: InvocationContext,
): Promise<ApplyFrontDoorProfileOutput> {
  void input;
  void context;
  throw new Error("applyFrontDoorProfile is not implemented yet.");
}

/** The registered activity; orchestrators yield `applyFrontDoorProfile(input)`. */
export const applyFrontDoorProfile: TypedActivity<ApplyFrontDoorProfileInput, ApplyFrontDoorProfileOutput> =
  df.app.activity("applyFrontDoorProfile", { handler: applyFrontDoorProfileHandler });
