/**
 * Activity `readCertificate`: a certificate version's public facts from Key Vault (thumbprint,
 * validity, issuer, tags, older versions).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { hexThumbprint, issuerKind, previousVersions } from "../azure/keyVault.js";
import { vaultResourceId } from "../discovery.js";
import type { ReadCertificateInput, ReadCertificateOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** A certificate version's public facts from Key Vault. */
export async function readCertificateHandler(
  input: ReadCertificateInput,
  context: InvocationContext,
): Promise<ReadCertificateOutput> {
  const c = composition();
  const what = `${input.vaultName}/${input.certificateName}${input.version ? `/${input.version}` : ""}`;
  const vaultUrl = c.vaultUrl(input.vaultName);
  if (!vaultUrl) {
    return {
      found: false,
      reason: "VaultNotAllowed",
      message: `Vault ${input.vaultName} is not listed in ALLOWED_VAULT_URLS.`,
    };
  }
  const client = c.certificateClient(vaultUrl);
  try {
    const cert = input.version
      ? await client.getCertificateVersion(input.certificateName, input.version)
      : await client.getCertificate(input.certificateName);
    const policy = await client.getCertificatePolicy(input.certificateName);
    const version = cert.properties.version ?? "";
    const thumbprint = hexThumbprint(cert.properties.x509Thumbprint) ?? "";
    const [previous, armId] = await Promise.all([
      previousVersions(client, input.certificateName, version),
      vaultResourceId(c, input.vaultName).catch(() => undefined),
    ]);
    context.log(`readCertificate: ${what} is version ${version} (${thumbprint}).`);
    return {
      found: true,
      vaultUrl: vaultUrl.replace(/\/+$/, ""),
      ...(armId ? { vaultResourceId: armId } : {}),
      version,
      thumbprint,
      ...(cert.properties.notBefore ? { notBefore: cert.properties.notBefore.toISOString() } : {}),
      ...(cert.properties.expiresOn ? { expiresOn: cert.properties.expiresOn.toISOString() } : {}),
      enabled: cert.properties.enabled !== false,
      issuerName: policy.issuerName ?? "Unknown",
      issuerKind: issuerKind(policy.issuerName),
      tags: { ...(cert.properties.tags ?? {}) },
      previousVersions: previous.map((p) => ({ version: p.version, thumbprint: p.thumbprint })),
    };
  } catch (e) {
    const f = describeSdkError(e, `Reading certificate ${what}`);
    context.warn(`readCertificate: ${f.message}`);
    if (f.kind === "notFound") {
      return { found: false, reason: "CertificateNotFound", message: `Certificate ${what} does not exist.` };
    }
    if (f.kind === "permanent")
      return { found: false, reason: f.code ?? "CertificateUnreadable", message: f.message };
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `readCertificate(input)`. */
export const readCertificate: TypedActivity<ReadCertificateInput, ReadCertificateOutput> = df.app.activity(
  "readCertificate",
  { handler: readCertificateHandler },
);
