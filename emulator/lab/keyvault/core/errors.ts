/**
 * Key Vault's error responses: `{"error":{"code","message","innererror?":{"code"}}}` with the
 * status codes, codes and messages the data plane really answers with (FACTS.md §2;
 * azure-rest-api-specs KeyVault data plane; SDK recordings). The model and the handlers throw
 * `KeyVaultError`s from this factory; the route wrapper turns them into responses.
 */
import type { LabResponse } from "../../core/http.js";
import { VAULT_DOMAIN } from "../wire.js";

/** A Key Vault error answer, thrown by the model and the handlers. */
export class KeyVaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** `innererror.code` (e.g. ForbiddenByRbac, SecretDisabled); absent when Key Vault sends none. */
    readonly inner?: string,
    /** Extra response headers (the 401 challenge). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "KeyVaultError";
  }

  /** The wire response of this error. */
  toResponse(): LabResponse {
    const out = kvError(this.status, this.code, this.message, this.inner);
    return this.headers ? { ...out, headers: this.headers } : out;
  }
}

/** True when `e` is a Key Vault error answer. */
export const isKeyVaultError = (e: unknown): e is KeyVaultError => e instanceof KeyVaultError;

/** `{"error":{"code","message","innererror?"}}` with Key Vault's status. */
export function kvError(status: number, code: string, message: string, inner?: string): LabResponse {
  return {
    status,
    body: { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } },
  };
}

/** Shapes injected status faults the Key Vault way. */
export const kvErrorShape = (_status: number, code: string, message: string): unknown => ({
  error: { code, message },
});

const recoveryHint = (kind: "certificate" | "secret") =>
  `If you recently deleted this ${kind} you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`;

// ---- request checks (host, api-version, token, RBAC) -------------------------------------------

/** 404 for a host name that is no lab vault. */
export const vaultNotFoundAtHost = (host: string): KeyVaultError =>
  new KeyVaultError(
    404,
    "VaultNotFound",
    `No lab vault answers at host '${host}'. Use https://<vault>.${VAULT_DOMAIN}:<port>/.`,
  );

/** 404 for a vault name the model does not know. */
export const vaultNotFound = (vault: string): KeyVaultError =>
  new KeyVaultError(404, "VaultNotFound", `The vault '${vault}' does not exist in the lab.`);

/** 400 for a request without `?api-version=`. */
export const apiVersionMissing = (): KeyVaultError =>
  badParameter("The api-version query parameter (?api-version=) is required for all requests.");

/** 400 for an api-version Key Vault does not serve. */
export const apiVersionUnknown = (apiVersion: string): KeyVaultError =>
  badParameter(
    `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (2025-07-01).`,
  );

/** 401 with the Bearer challenge (`WWW-Authenticate`) that starts the SDK's challenge flow. */
export const unauthorized = (challenge: string, message: string): KeyVaultError =>
  new KeyVaultError(401, "Unauthorized", message, undefined, { "www-authenticate": challenge });

/** What a denied RBAC check names in Key Vault's 403 message. */
export interface RbacDenial {
  clientId: string;
  objectId: string;
  issuer: string;
  action: string;
  scope: string;
  vault: string;
  location: string;
}

/** 403 Forbidden / ForbiddenByRbac, with the data action and scope that were denied. */
export const forbiddenByRbac = (d: RbacDenial): KeyVaultError =>
  new KeyVaultError(
    403,
    "Forbidden",
    `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=${d.clientId};oid=${d.objectId};iss=${d.issuer}\r\nAction: '${d.action}'\r\nResource: '${d.scope.toLowerCase()}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: ${d.vault};location=${d.location}\r\n`,
    "ForbiddenByRbac",
  );

// ---- generic codes -----------------------------------------------------------------------------

/** 400 BadParameter with the given message. */
export const badParameter = (message: string): KeyVaultError =>
  new KeyVaultError(400, "BadParameter", message);

/** 409 Conflict with the given message. */
export const conflict = (message: string): KeyVaultError => new KeyVaultError(409, "Conflict", message);

/** 403 Forbidden (no inner code) with the given message. */
export const forbidden = (message: string): KeyVaultError => new KeyVaultError(403, "Forbidden", message);

// ---- certificates --------------------------------------------------------------------------------

/** 404 for a certificate read by name: the message carries Key Vault's recovery hint. */
export const certificateNotFound = (name: string): KeyVaultError =>
  new KeyVaultError(
    404,
    "CertificateNotFound",
    `A certificate with (name/id) ${name} was not found in this key vault. ${recoveryHint("certificate")}`,
  );

/** 404 with the short message Key Vault gives for a version (`name/version`) or on update and delete. */
export const certificateIdNotFound = (id: string): KeyVaultError =>
  new KeyVaultError(
    404,
    "CertificateNotFound",
    `A certificate with (name/id) ${id} was not found in this key vault.`,
  );

/** 404 for a name that is not in the deleted (soft-deleted) certificates. */
export const deletedCertificateNotFound = (name: string): KeyVaultError =>
  new KeyVaultError(404, "CertificateNotFound", `Deleted Certificate not found: ${name}`);

/** 409 for a create that reuses the name of a deleted but recoverable certificate. */
export const createOfDeletedCertificate = (name: string): KeyVaultError =>
  conflict(
    `Certificate ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the certificate can only be recovered or purged.`,
  );

/** 409 for an import under the name of a deleted but recoverable certificate. */
export const importOfDeletedCertificate = (name: string): KeyVaultError =>
  conflict(`Certificate ${name} is currently in a deleted but recoverable state.`);

// ---- pending operations ----------------------------------------------------------------------------

/** 404 for a certificate without a pending operation. */
export const pendingNotFound = (name: string): KeyVaultError =>
  new KeyVaultError(404, "PendingCertificateNotFound", `Pending certificate not found: ${name}`);

/** 409 for a create while one is in progress. */
export const pendingInProgress = (name: string): KeyVaultError =>
  conflict(`There is already a pending operation for certificate ${name}.`);

/** 403 for a merge into a request that is not an in-progress `Unknown` one. */
export const nothingToMerge = (name: string): KeyVaultError =>
  forbidden(`There is no pending certificate request for ${name} that can be merged.`);

// ---- issuers and contacts ----------------------------------------------------------------------------

/** 404 for an issuer read, update or delete. */
export const issuerNotFound = (name: string): KeyVaultError =>
  new KeyVaultError(404, "CertificateIssuerNotFound", `Issuer not found: ${name}`);

/** 400 for a policy that names an issuer the vault does not have. */
export const policyIssuerNotFound = (name: string): KeyVaultError =>
  badParameter(`Issuer not found: ${name}`);

/** 404 for contacts that were never set (or were deleted). */
export const contactsNotFound = (): KeyVaultError =>
  new KeyVaultError(404, "ContactsNotFound", "Contacts not found");

// ---- secrets -----------------------------------------------------------------------------------------

/** 404 for a secret read by name: the message carries Key Vault's recovery hint. */
export const secretNotFound = (name: string): KeyVaultError =>
  new KeyVaultError(
    404,
    "SecretNotFound",
    `A secret with (name/id) ${name} was not found in this key vault. ${recoveryHint("secret")}`,
  );

/** 404 with the short message Key Vault gives for a secret version (`name/version`). */
export const secretIdNotFound = (id: string): KeyVaultError =>
  new KeyVaultError(404, "SecretNotFound", `A secret with (name/id) ${id} was not found in this key vault.`);

/** 403 for the value of a disabled secret version. */
export const secretDisabled = (): KeyVaultError =>
  new KeyVaultError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled");
