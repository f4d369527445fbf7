/**
 * Activity `readHold`: a certificate's held version, if any (see `src/domain/heldVersion.ts`), for
 * the drift scan. Read errors are retriable.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { readHold as readStoredHold } from "../azure/heldVersions.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import type { CertificateRef } from "../domain/bindings.js";
import type { HeldVersion } from "../domain/heldVersion.js";
import type { TypedActivity } from "./typed.js";

/** Input of `readHold`. */
export interface ReadHoldInput {
  certificate: CertificateRef;
}

/** Output of `readHold`: the hold, absent when nothing is held. */
export interface ReadHoldOutput {
  held?: HeldVersion;
}

/** Reads the certificate's hold. */
export async function readHoldHandler(
  input: ReadHoldInput,
  context: InvocationContext,
): Promise<ReadHoldOutput> {
  const { vaultName, certificateName } = input.certificate;
  try {
    const stored = await readStoredHold(await composition().heldTable(), input.certificate);
    return stored ? { held: stored.held } : {};
  } catch (e) {
    const f = describeSdkError(e, `Reading the held version of ${vaultName}/${certificateName}`);
    context.warn(`readHold: ${f.message}`);
    throw retriable(f);
  }
}

/** The registered activity; the drift scan yields `readHold(input)`. */
export const readHold: TypedActivity<ReadHoldInput, ReadHoldOutput> = df.app.activity("readHold", {
  handler: readHoldHandler,
});
