/**
 * Activity `readRenewal`: The state of the certificate's pending create operation.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ReadRenewalInput, ReadRenewalOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** The state of the certificate's pending create operation. */
export async function readRenewalHandler(
  input: ReadRenewalInput,
  context: InvocationContext,
): Promise<ReadRenewalOutput> {
  void input;
  void context;
  throw new Error("readRenewal is not implemented yet.");
}

/** The registered activity; orchestrators yield `readRenewal(input)`. */
export const readRenewal: TypedActivity<ReadRenewalInput, ReadRenewalOutput> = df.app.activity(
  "readRenewal",
  { handler: readRenewalHandler },
);
