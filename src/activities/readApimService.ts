/**
 * Activity `readApimService`: An APIM service's provisioning state and what its hostnames and certificate entities point at.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ReadApimServiceInput, ReadApimServiceOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** An APIM service's provisioning state and what its hostnames and certificate entities point at. */
export async function readApimServiceHandler(
  input: ReadApimServiceInput,
  context: InvocationContext,
): Promise<ReadApimServiceOutput> {
  void input;
  void context;
  throw new Error("readApimService is not implemented yet.");
}

/** The registered activity; orchestrators yield `readApimService(input)`. */
export const readApimService: TypedActivity<ReadApimServiceInput, ReadApimServiceOutput> = df.app.activity(
  "readApimService",
  { handler: readApimServiceHandler },
);
