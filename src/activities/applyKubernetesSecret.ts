/**
 * Activity `applyKubernetesSecret`: Writes tls.crt/tls.key (and/or ca.crt) into one Secret with a resourceVersion precondition, keeping a backup.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ApplyKubernetesSecretInput, ApplyKubernetesSecretOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Writes tls.crt/tls.key (and/or ca.crt) into one Secret with a resourceVersion precondition, keeping a backup. */
export async function applyKubernetesSecretHandler(
  input: ApplyKubernetesSecretInput,
  context: InvocationContext,
): Promise<ApplyKubernetesSecretOutput> {
  void input;
  void context;
  throw new Error("applyKubernetesSecret is not implemented yet.");
}

/** The registered activity; orchestrators yield `applyKubernetesSecret(input)`. */
export const applyKubernetesSecret: TypedActivity<ApplyKubernetesSecretInput, ApplyKubernetesSecretOutput> =
  df.app.activity("applyKubernetesSecret", { handler: applyKubernetesSecretHandler });
