/**
 * In-process read API of the lab Key Vault, registered in `ctx.registry` under "keyvault". The data
 * plane hops (Front Door edge, APIM gateway, ingress) use it to serve what their simulated resources
 * reference. Private keys leave the vault only through this API, never over the wire unless the real
 * API returns them (the certificate's secret). After every change the vault emits
 * `ctx.bus.emit("resource.changed", { service: "keyvault", id: "<vault ARM id>/certificates/<name>" })`.
 */

/** Registry key of the Key Vault API. */
export const KEYVAULT_API = "keyvault";

/** One completed version of a certificate. */
export interface CertificateVersionInfo {
  vault: string;
  name: string;
  version: string;
  /** `https://<vault>.vault.localhost:<port>/certificates/<name>/<version>`. */
  certificateId: string;
  /** `https://<vault>.vault.localhost:<port>/secrets/<name>/<version>`. */
  secretId: string;
  enabled: boolean;
  created: Date;
  notBefore: Date;
  expiresOn: Date;
  /** Upper-case hex SHA-1 of the leaf, as ARM (Front Door, APIM) shows it. */
  thumbprint: string;
  /** base64url SHA-1 (Key Vault's `x5t`). */
  x5t: string;
  /** e.g. "CN=api.contoso.test". */
  subject: string;
  dnsNames: string[];
  /** True when the policy lets the private key be exported with the secret. */
  exportable: boolean;
  /** Secret content type of this version: application/x-pkcs12 or application/x-pem-file. */
  contentType: string;
  /** The leaf certificate PEM. */
  certPem: string;
  /** Leaf first, then the issuing chain (for the lab CA: leaf + lab root). */
  chainPem: string;
}

/** A secret reference resolved to the material a TLS endpoint needs. */
export interface ResolvedSecret extends CertificateVersionInfo {
  /** PKCS#8 PEM private key; absent when the key is not exportable (a real hop could not use it either). */
  keyPem?: string;
}

export interface KeyVaultApi {
  /** Names of the vaults the lab serves. */
  vaults(): string[];
  /** `https://<vault>.vault.localhost:<port>` (no trailing slash). */
  vaultUrl(vault: string): string;
  /** ARM id `/subscriptions/…/providers/Microsoft.KeyVault/vaults/<vault>`. */
  vaultResourceId(vault: string): string;
  /** The latest completed version (what a versionless reference resolves to), or undefined. */
  currentVersion(vault: string, name: string): CertificateVersionInfo | undefined;
  /** Every completed version, oldest first. */
  versions(vault: string, name: string): CertificateVersionInfo[];
  /**
   * Resolves a Key Vault secret (or certificate) reference to the chain and key:
   * - a data-plane URL, versioned or versionless: `https://<vault>.vault.localhost:<port>/secrets/<name>[/<version>]`
   *   (any host whose first label is the vault name; `/certificates/` URLs work the same);
   * - an ARM id `/subscriptions/…/vaults/<vault>/secrets/<name>`, with `version` (absent = latest).
   * Returns undefined when the vault, certificate or version does not exist (or the certificate is deleted).
   * A disabled version resolves with `enabled: false`; the caller decides what a real hop would do.
   */
  resolveSecret(reference: string, version?: string): ResolvedSecret | undefined;
  /** True when `principalId` may read the secret value (RBAC `secrets/getSecret/action` on it). */
  canReadSecret(principalId: string, vault: string, name: string): boolean;
}
