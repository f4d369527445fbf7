/**
 * Activity `readFrontDoorProfile`: Provisioning and deployment state of a Front Door profile's custom domains.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ReadFrontDoorProfileInput, ReadFrontDoorProfileOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Provisioning and deployment state of a Front Door profile's custom domains. */
export async function readFrontDoorProfileHandler(
  input: ReadFrontDoorProfileInput,
  context: InvocationContext,
): Promise<ReadFrontDoorProfileOutput> {
  void input;
  void context;
  throw new Error("readFrontDoorProfile is not implemented yet.");
}

/** The registered activity; orchestrators yield `readFrontDoorProfile(input)`. */
export const readFrontDoorProfile: TypedActivity<ReadFrontDoorProfileInput, ReadFrontDoorProfileOutput> =
  df.app.activity("readFrontDoorProfile", { handler: readFrontDoorProfileHandler });
