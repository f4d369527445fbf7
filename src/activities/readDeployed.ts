/**
 * Activity `readDeployed`: The thumbprint each binding is configured with now.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ReadDeployedInput, ReadDeployedOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** The thumbprint each binding is configured with now. */
export async function readDeployedHandler(
  input: ReadDeployedInput,
  context: InvocationContext,
): Promise<ReadDeployedOutput> {
  void input;
  void context;
  throw new Error("readDeployed is not implemented yet.");
}

/** The registered activity; orchestrators yield `readDeployed(input)`. */
export const readDeployed: TypedActivity<ReadDeployedInput, ReadDeployedOutput> = df.app.activity(
  "readDeployed",
  { handler: readDeployedHandler },
);
