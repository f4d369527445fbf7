/**
 * Key Vault wire shapes (snake_case policy, unix-seconds attributes) and constants (FACTS.md §2;
 * azure-rest-api-specs KeyVault data plane; SDK recordings). Its error bodies are in core/errors.ts.
 */

/** Audience of lab Key Vault tokens (the challenge's `resource`). */
export const KEYVAULT_AUDIENCE = "https://vault.localhost";
/** Host-name suffix of lab vaults. */
export const VAULT_DOMAIN = "vault.localhost";

/** Policy as it is on the wire and in the lab state. */
export interface WirePolicy {
  key_props: { exportable: boolean; kty: string; key_size?: number; crv?: string; reuse_key: boolean };
  secret_props: { contentType: string };
  x509_props: {
    subject: string;
    sans?: {
      dns_names?: string[];
      emails?: string[];
      upns?: string[];
      uris?: string[];
      ipAddresses?: string[];
    };
    ekus?: string[];
    key_usage?: string[];
    validity_months: number;
    basic_constraints?: { ca: boolean };
  };
  lifetime_actions: WireLifetimeAction[];
  issuer: { name: string; cty?: string; cert_transparency?: boolean };
  attributes: { enabled: boolean; created: number; updated: number };
}

export interface WireLifetimeAction {
  trigger: { lifetime_percentage?: number; days_before_expiry?: number };
  action: { action_type: string };
}

export const PKCS12 = "application/x-pkcs12";
export const PEM = "application/x-pem-file";
export const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
/** Recovery level of the lab vault (soft delete on, purge protection off: today's default). */
export const RECOVERY_LEVEL = "Recoverable+Purgeable";
export const RECOVERABLE_DAYS = 90;

/** API versions the lab accepts; the SDK default is 2025-07-01. */
export const API_VERSIONS = [
  "2016-10-01",
  "7.0",
  "7.1",
  "7.2",
  "7.3",
  "7.4",
  "7.5",
  "7.6-preview.2",
  "7.6",
  "2025-07-01",
];

/** Seconds since the epoch, as Key Vault's attributes carry them. */
export const epoch = (d: Date | number): number =>
  Math.floor((typeof d === "number" ? d : d.getTime()) / 1000);
