/**
 * Activity `applyApimService`: Points an APIM service's bound hostnames and certificate entities at the new version in one update.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ApplyApimServiceInput, ApplyApimServiceOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Points an APIM service's bound hostnames and certificate entities at the new version in one update. */
export async function applyApimServiceHandler(
  input: ApplyApimServiceInput,
  context: InvocationContext,
): Promise<ApplyApimServiceOutput> {
  void input;
  void context;
  throw new Error("applyApimService is not implemented yet.");
}

/** The registered activity; orchestrators yield `applyApimService(input)`. */
export const applyApimService: TypedActivity<ApplyApimServiceInput, ApplyApimServiceOutput> = df.app.activity(
  "applyApimService",
  { handler: applyApimServiceHandler },
);
