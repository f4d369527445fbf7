/**
 * Activity `preflightCertificate`: Fetches the version (key material stays here) and runs the preflight check chain.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { PreflightCertificateInput, PreflightCertificateOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Fetches the version (key material stays here) and runs the preflight check chain. */
export async function preflightCertificateHandler(
  input: PreflightCertificateInput,
  context: InvocationContext,
): Promise<PreflightCertificateOutput> {
  void input;
  void context;
  throw new Error("preflightCertificate is not implemented yet.");
}

/** The registered activity; orchestrators yield `preflightCertificate(input)`. */
export const preflightCertificate: TypedActivity<PreflightCertificateInput, PreflightCertificateOutput> =
  df.app.activity("preflightCertificate", { handler: preflightCertificateHandler });
