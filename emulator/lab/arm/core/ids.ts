/** ARM resource ids of the lab, built and parsed in one place. */

/** `/subscriptions/{s}/resourceGroups/{rg}`. */
export const resourceGroupId = (subscriptionId: string, resourceGroup: string): string =>
  `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;

/** The ARM id of a Key Vault secret. */
export const keyVaultSecretArmId = (rgId: string, vaultName: string, secretName: string): string =>
  `${rgId}/providers/Microsoft.KeyVault/vaults/${vaultName}/secrets/${secretName}`;

/** Parses `/subscriptions/…/providers/Microsoft.KeyVault/vaults/{vault}/secrets/{name}[/{version}]`. */
export function parseKeyVaultSecretArmId(
  id: string,
): { vaultName: string; secretName: string; version?: string } | undefined {
  const m = /\/providers\/Microsoft\.KeyVault\/vaults?\/([^/]+)\/secrets\/([^/]+)(?:\/([^/]+))?\/?$/i.exec(
    id,
  );
  if (!m) return undefined;
  return { vaultName: m[1]!, secretName: m[2]!, version: m[3] };
}

/** Parses a Key Vault secret URL `https://{vault}.vault…/secrets/{name}[/{version}]`. */
export function parseKeyVaultSecretUrl(
  url: string,
): { vaultName: string; secretName: string; version?: string; vaultUrl: string } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const m = /^\/secrets\/([^/]+)(?:\/([^/]*))?\/?$/i.exec(parsed.pathname);
  if (!m) return undefined;
  return {
    vaultName: parsed.hostname.split(".")[0]!,
    secretName: m[1]!,
    version: m[2] || undefined,
    vaultUrl: parsed.origin,
  };
}

/** Last segment of an ARM id. */
export const lastSegment = (id: string): string => id.split("/").filter(Boolean).pop() ?? "";

/** Case-insensitive key for maps of ARM names. */
export const key = (name: string): string => name.toLowerCase();
