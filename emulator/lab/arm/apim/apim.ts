/**
 * Shared API Management (Microsoft.ApiManagement/service) logic: paths, lookups, entity tags and
 * If-Match, the APIM error shape (`{"error":{"code","message","details":null}}`), and Key Vault
 * references of host names and certificates.
 */
import type { LabRequest, LabResponse } from "../../core/http.js";
import type { KeyVaultSecretRef } from "../api.js";
import { armError, resourceNotFound } from "../core/errors.js";
import { key, keyVaultSecretArmId, parseKeyVaultSecretUrl, resourceGroupId } from "../core/ids.js";
import type { ResolvedSecret } from "../core/keyVault.js";
import type { ApimServiceState } from "../core/state.js";
import { textOf } from "../../core/text.js";
import type { ArmWorld } from "../core/world.js";
import { checkScope } from "../core/scope.js";

export const APIM = "Microsoft.ApiManagement";
export const SERVICE_PATH =
  "/subscriptions/:sub/resourceGroups/:rg/providers/Microsoft.ApiManagement/service/:service";

export const serviceId = (world: ArmWorld, name: string): string =>
  `${resourceGroupId(world.subscriptionId, world.resourceGroup)}/providers/Microsoft.ApiManagement/service/${name}`;

/** APIM's error body carries `details` (null when empty). */
export const apimError = (
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): LabResponse => armError(status, code, message, headers, null);

export const entityNotFound = (what: string): LabResponse =>
  apimError(404, "ResourceNotFound", `${what} not found.`);

export function findService(world: ArmWorld, req: LabRequest): ApimServiceState | LabResponse {
  const scoped = checkScope(world, req);
  if (scoped) return scoped;
  const service = world.state.apim[key(req.params.service!)];
  if (service) return service;
  return resourceNotFound("Microsoft.ApiManagement/service", req.params.service!, req.params.rg!);
}

/** An APIM entity tag: an opaque base64 counter, e.g. `AAAAAAAAAAE=` (quoted in the ETag header). */
export function etagOf(counter: number): string {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(counter));
  return buf.toString("base64");
}

const unquote = (tag: string) => tag.trim().replace(/^W\//, "").replace(/^"|"$/g, "");

/**
 * Checks `If-Match` against the entity's tag: `*` matches any existing entity. With `required`,
 * a missing header on an existing entity is refused too.
 */
export function ifMatchFails(
  req: LabRequest,
  current: number | undefined,
  options: { required: boolean },
): LabResponse | undefined {
  const header = req.headers["if-match"];
  if (current === undefined) return undefined;
  if (header === undefined || header === "") {
    return options.required
      ? apimError(
          412,
          "PreconditionFailed",
          "The entity already exists; the If-Match header with its ETag (or '*') is required to update it.",
        )
      : undefined;
  }
  const tags = String(header).split(",").map(unquote);
  if (tags.includes("*") || tags.includes(etagOf(current))) return undefined;
  return apimError(
    412,
    "PreconditionFailed",
    "The entity's ETag does not match the one specified in the If-Match header; it was modified since you read it.",
  );
}

/** The principal APIM reads Key Vault with: the user-assigned identity named, else the system-assigned one. */
export function apimPrincipal(world: ArmWorld, service: ApimServiceState, identityClientId?: string): string {
  if (identityClientId) return world.ctx.auth.identity(identityClientId)?.objectId ?? identityClientId;
  return textOf(service.identity.principalId ?? "");
}

/** A Key Vault reference from a secret URL (`keyVaultId` or `secretIdentifier`), resolved now. */
export async function resolveSecretUrl(
  world: ArmWorld,
  url: string,
): Promise<{ ref: KeyVaultSecretRef; resolved?: ResolvedSecret } | undefined> {
  const parsed = parseKeyVaultSecretUrl(url);
  if (!parsed) return undefined;
  const resolved = await world.kv.resolve(parsed);
  const version = parsed.version ?? resolved?.version;
  return {
    ref: {
      vaultName: parsed.vaultName,
      secretName: parsed.secretName,
      version,
      followsLatest: !parsed.version,
      armId: keyVaultSecretArmId(
        resourceGroupId(world.subscriptionId, world.resourceGroup),
        parsed.vaultName,
        parsed.secretName,
      ),
      secretUrl: `${parsed.vaultUrl}/secrets/${parsed.secretName}${version ? `/${version}` : ""}`,
    },
    resolved,
  };
}
