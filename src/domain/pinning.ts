/**
 * Pinning on rollback. A reference that follows the vault's latest version — an APIM `keyVaultId` or
 * `secretIdentifier` without a version, a Front Door secret set to `useLatestVersion` — resolves to
 * the vault's current version, which during a rollback is the version being rolled back. Putting
 * such a reference back as it was would serve the rejected leaf (at once, or by itself within
 * hours), so a rollback names the version that was served explicitly and says how to unpin. Pure.
 */

/** A Key Vault secret URL split up: `https://{vault host}/secrets/{name}[/{version}]`. */
export interface SecretUrl {
  vaultUrl: string;
  name: string;
  version?: string;
}

/** Splits a Key Vault secret URL; undefined when it is not one. */
export function parseSecretUrl(url: string | undefined): SecretUrl | undefined {
  const m = /^(https:\/\/[^/]+)\/secrets\/([^/?#]+)(?:\/([^/?#]+))?\/?(?:[?#].*)?$/i.exec(url ?? "");
  if (!m) return undefined;
  return { vaultUrl: m[1] as string, name: m[2] as string, ...(m[3] ? { version: m[3] } : {}) };
}

/** Whether a Key Vault secret URL names no version (APIM then follows the vault's latest version). */
export const isVersionless = (url: string | undefined): boolean => {
  const p = parseSecretUrl(url);
  return p !== undefined && p.version === undefined;
};

/** The secret URL pinned to `version`. */
export function pinnedUrl(url: string, version: string): string {
  const p = parseSecretUrl(url);
  return p ? `${p.vaultUrl}/secrets/${p.name}/${version}` : url;
}

/** The vault (name) and secret (certificate) a Front Door `secretSource` ARM id names. */
export function secretSourceParts(id: string | undefined): { vaultName: string; name: string } | undefined {
  const m = /\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)\/secrets\/([^/]+)/i.exec(id ?? "");
  return m ? { vaultName: m[1] as string, name: m[2] as string } : undefined;
}

/** The report's sentence for an APIM entry pinned on rollback. */
export function apimPinNotice(what: string, versionless: string, pinned: string): string {
  return `APIM ${what} was pinned to ${pinned}: its reference ${versionless} follows the vault's latest version, which is the one rolled back. To unpin once a good version is current in the vault, set it back to ${versionless}.`;
}

/** The report's sentence for a Front Door domain pinned on rollback. */
export function frontDoorPinNotice(
  domain: string,
  latestSecret: string,
  pinnedSecret: string,
  version: string,
): string {
  return `Front Door custom domain ${domain} was pinned to secret ${pinnedSecret} (version ${version}): its secret ${latestSecret} follows the vault's latest version ('Latest'), which is the one rolled back. To unpin once a good version is current in the vault, point the domain at ${latestSecret} again.`;
}
