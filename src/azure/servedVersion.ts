/**
 * The vault version a reference that follows the latest version serves now (see
 * src/domain/pinning.ts), found by the served leaf's thumbprint among the certificate's versions, so
 * that a rollback can pin exactly that version. Only vaults the app is configured for are asked.
 */
import type { Composition } from "../composition.js";
import type { ApimServiceSnapshot } from "../domain/rollback.js";
import { isVersionless, parseSecretUrl, pinnedUrl } from "../domain/pinning.js";
import { versionWithThumbprint } from "./keyVault.js";

/** The configured vault URL with this origin, if any. */
function allowedVault(c: Composition, vaultUrl: string): string | undefined {
  const origin = new URL(vaultUrl).origin.toLowerCase();
  return c.config.allowedVaultUrls.find((u) => new URL(u).origin.toLowerCase() === origin);
}

/**
 * The version of `name` in the vault at `vaultUrl` whose leaf has `thumbprint`; undefined when it
 * cannot be told (unknown thumbprint, a vault not configured, no such version). Throws the vault's
 * errors (a retriable one makes the caller retry).
 */
export async function servedVersion(
  c: Composition,
  vaultUrl: string | undefined,
  name: string,
  thumbprint: string | undefined,
): Promise<string | undefined> {
  const vault = vaultUrl && thumbprint ? allowedVault(c, vaultUrl) : undefined;
  if (!vault || !thumbprint) return undefined;
  return versionWithThumbprint(c.certificateClient(vault), name, thumbprint);
}

/** The pinned form of a versionless secret URL serving `thumbprint`, when its version is found. */
async function pinned(c: Composition, url: string | undefined, thumbprint: string | undefined) {
  const p = parseSecretUrl(url);
  if (!url || !p || !isVersionless(url)) return undefined;
  const version = await servedVersion(c, p.vaultUrl, p.name, thumbprint);
  return version ? pinnedUrl(url, version) : undefined;
}

/** The snapshot with the pinned form of each versionless reference it records, where found. */
export async function withPinnedReferences(
  c: Composition,
  s: ApimServiceSnapshot,
): Promise<ApimServiceSnapshot> {
  const hostnames: ApimServiceSnapshot["hostnames"] = [];
  for (const h of s.hostnames) {
    const pin = await pinned(c, h.previousKeyVaultId, h.previousThumbprint);
    hostnames.push({ ...h, ...(pin ? { previousPinnedKeyVaultId: pin } : {}) });
  }
  const certificates: ApimServiceSnapshot["certificates"] = [];
  for (const e of s.certificates) {
    const pin = await pinned(c, e.previousSecretIdentifier, e.previousThumbprint);
    certificates.push({ ...e, ...(pin ? { previousPinnedSecretIdentifier: pin } : {}) });
  }
  return { ...s, hostnames, certificates };
}
