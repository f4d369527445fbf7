/**
 * Activity `startRenewal`: begins a new version with the existing policy when the issuer allows it
 * (Self or an integrated CA), tagged with the rotation id. Idempotent: an operation already pending,
 * or a version this rotation already created, is reused.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { busyResult, describeSdkError, retriable } from "../azure/sdkErrors.js";
import { issuerKind } from "../azure/keyVault.js";
import type { StartRenewalInput, StartRenewalOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Tag written on versions our renewal creates. */
export const ROTATION_TAG = "cert-rotation.e2e/rotation";

/** Starts a renewal (or finds one pending). */
export async function startRenewalHandler(
  input: StartRenewalInput,
  context: InvocationContext,
): Promise<StartRenewalOutput> {
  const c = composition();
  const what = `${input.vaultName}/${input.certificateName}`;
  const vaultUrl = c.vaultUrl(input.vaultName);
  if (!vaultUrl) {
    return {
      status: "notRenewable",
      reason: "VaultNotAllowed",
      message: `Vault ${input.vaultName} is not listed in ALLOWED_VAULT_URLS.`,
    };
  }
  const client = c.certificateClient(vaultUrl);
  try {
    const policy = await client.getCertificatePolicy(input.certificateName);
    if (issuerKind(policy.issuerName) === "Unknown") {
      return {
        status: "notRenewable",
        reason: "IssuerUnknown",
        message: `Certificate ${what} has issuer Unknown: a new version must come from outside Key Vault.`,
      };
    }
    // 1. A version this rotation created already exists: nothing to start.
    const current = await client.getCertificate(input.certificateName);
    if (current.properties.tags?.[ROTATION_TAG] === input.rotationId) {
      context.log(
        `startRenewal: ${what} already has version ${current.properties.version} from this rotation.`,
      );
      return { status: "alreadyPending" };
    }
    // 2. An operation is pending: reuse it.
    const pending = await pendingStatus(c.certificateClient(vaultUrl), input.certificateName);
    if (pending === "inProgress") {
      context.log(`startRenewal: ${what} has a renewal in progress already.`);
      return { status: "alreadyPending" };
    }
    // 3. Start one with the existing policy (sent as-is: the vault keeps it).
    await client.beginCreateCertificate(input.certificateName, policy, {
      tags: { ...(current.properties.tags ?? {}), [ROTATION_TAG]: input.rotationId },
    });
    context.log(`startRenewal: ${what} renewal started for ${input.rotationId}.`);
    return { status: "started" };
  } catch (e) {
    const f = describeSdkError(e, `Renewing certificate ${what}`);
    context.warn(`startRenewal: ${f.message}`);
    if (f.kind === "busy") return busyResult(f);
    if (f.kind === "notFound" || f.kind === "permanent") {
      return { status: "notRenewable", reason: f.code ?? "RenewalRefused", message: f.message };
    }
    throw retriable(f);
  }
}

/** The status of the certificate's pending operation, or `none`. */
export async function pendingStatus(
  client: ReturnType<ReturnType<typeof composition>["certificateClient"]>,
  name: string,
): Promise<{ status?: string; error?: { code?: string } } | "inProgress" | "none"> {
  try {
    const poller = await client.getCertificateOperation(name);
    const op = poller.getOperationState().certificateOperation;
    if (!op) return "none";
    if (op.status === "inProgress") return "inProgress";
    return {
      ...(op.status ? { status: op.status } : {}),
      ...(op.error ? { error: { ...(op.error.code ? { code: op.error.code } : {}) } } : {}),
    };
  } catch (e) {
    if (describeSdkError(e, "read").kind === "notFound") return "none";
    throw e;
  }
}

/** The registered activity; orchestrators yield `startRenewal(input)`. */
export const startRenewal: TypedActivity<StartRenewalInput, StartRenewalOutput> = df.app.activity(
  "startRenewal",
  { handler: startRenewalHandler },
);
