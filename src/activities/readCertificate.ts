/**
 * Activity `readCertificate`: A certificate version's public facts from Key Vault (thumbprint, validity, issuer, tags, older versions).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { ReadCertificateInput, ReadCertificateOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** A certificate version's public facts from Key Vault (thumbprint, validity, issuer, tags, older versions). */
export async function readCertificateHandler(
  input: ReadCertificateInput,
  context: InvocationContext,
): Promise<ReadCertificateOutput> {
  void input;
  void context;
  throw new Error("readCertificate is not implemented yet.");
}

/** The registered activity; orchestrators yield `readCertificate(input)`. */
export const readCertificate: TypedActivity<ReadCertificateInput, ReadCertificateOutput> = df.app.activity(
  "readCertificate",
  { handler: readCertificateHandler },
);
