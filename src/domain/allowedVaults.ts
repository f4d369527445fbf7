/**
 * The vaults the app acts for (`ALLOWED_VAULT_URLS`), by name or URL. Pure.
 */
import type { Config } from "../config.js";

/** Vault names allowed by `ALLOWED_VAULT_URLS` (the first label of each vault host). */
export function allowedVaultNames(config: Pick<Config, "allowedVaultUrls">): string[] {
  return config.allowedVaultUrls.map((u) => new URL(u).hostname.split(".")[0] ?? "").filter(Boolean);
}

/** Whether a vault name or URL is one of the allowed vaults; answers its name when it is. */
export function allowedVault(config: Pick<Config, "allowedVaultUrls">, vault: string): string | undefined {
  const v = vault.trim().toLowerCase();
  const byUrl = config.allowedVaultUrls.find((u) => {
    try {
      return new URL(v).origin.toLowerCase() === u;
    } catch {
      return false;
    }
  });
  if (byUrl) return new URL(byUrl).hostname.split(".")[0];
  return allowedVaultNames(config).find((n) => n.toLowerCase() === v);
}
