/** Real ARM SDK clients pointed at a test lab, and small helpers for the ARM tests. */
import { ApiManagementClient } from "@azure/arm-apimanagement";
import { CdnManagementClient } from "@azure/arm-cdn";
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import type { TestLab } from "../../support/lab.js";

export const ARM_SCOPE = "https://management.azure.com/.default";

/** Fast retries so fault tests stay quick; everything else is the SDKs' defaults. */
const retryOptions = { retryDelayInMs: 20, maxRetryDelayInMs: 200 };

export function credentialFor(
  identity?: "controlPlane" | "operator" | "nobody",
  lab?: TestLab,
): TokenCredential {
  if (!identity || identity === "controlPlane") return new DefaultAzureCredential();
  return new ManagedIdentityCredential({ clientId: lab!.ctx.seed.identities[identity].clientId });
}

export function cdnClient(
  lab: TestLab,
  credential: TokenCredential = new DefaultAzureCredential(),
): CdnManagementClient {
  const url = lab.ctx.servers.arm.url;
  return new CdnManagementClient(credential, lab.ctx.seed.subscriptionId, {
    $host: url,
    endpoint: url,
    credentialScopes: [ARM_SCOPE],
    retryOptions,
  });
}

export function apimClient(
  lab: TestLab,
  credential: TokenCredential = new DefaultAzureCredential(),
): ApiManagementClient {
  const url = lab.ctx.servers.arm.url;
  return new ApiManagementClient(credential, lab.ctx.seed.subscriptionId, {
    $host: url,
    endpoint: url,
    credentialScopes: [ARM_SCOPE],
    retryOptions,
  });
}

/** Polls `check` until it returns a value (not undefined/false) or the deadline passes. */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms.`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The body of an ARM error answer. */
export interface ArmErrorBody {
  error: { code: string; message: string };
}

/**
 * Raw ARM call with a token of the control plane identity (for shapes the SDKs hide). `T` is the JSON
 * body the caller expects (not checked; `unknown` unless named).
 */
export async function armFetch<T = unknown>(
  lab: TestLab,
  method: string,
  path: string,
  options: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: T }> {
  let token = options.token;
  if (token === undefined) token = (await new DefaultAzureCredential().getToken(ARM_SCOPE)).token;
  const res = await fetch(`${lab.ctx.servers.arm.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      ...(options.headers ?? {}),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Creates a new version of a lab Key Vault certificate through the real Key Vault SDK; returns the version. */
export async function newKeyVaultVersion(lab: TestLab, name: string): Promise<string> {
  const { CertificateClient } = await import("@azure/keyvault-certificates");
  const vault = (lab.endpoints.keyVault as { url: string }).url;
  const client = new CertificateClient(vault, new DefaultAzureCredential());
  const policy = await client.getCertificatePolicy(name);
  const poller = await client.beginCreateCertificate(name, policy, { intervalInMs: 50 });
  const cert = await poller.pollUntilDone();
  return cert.properties.version!;
}

/** The SDKs may bundle their own copy of core-rest-pipeline, so match RestErrors by shape. */
export function isRestError(e: unknown, statusCode: number, code?: string): boolean {
  const err = e as { name?: string; statusCode?: number; code?: string };
  return (
    err?.name === "RestError" && err.statusCode === statusCode && (code === undefined || err.code === code)
  );
}
