/**
 * API Management through @azure/arm-apimanagement: the service's hostname configurations (GET, change
 * only the bound entries, PATCH the whole array back — arrays are replaced) and `certificates`
 * entities (by id, with their ETag).
 */
import type { ApiManagementClient, HostnameConfiguration } from "@azure/arm-apimanagement";
import { ArmTypes, parseArmId, type ArmResourceId } from "../domain/armIds.js";
import { ValidationError } from "../errors.js";

/** The parts of an APIM service id, or a ValidationError naming it. */
export function apimServiceId(id: string): ArmResourceId {
  const p = parseArmId(id, ArmTypes.apiManagement);
  if (!p) throw new ValidationError(`'${id}' is not an API Management service id.`, "serviceId");
  return p;
}

const same = (a: string | undefined, b: string | undefined) =>
  (a ?? "").trim().toLowerCase().replace(/\.$/, "") === (b ?? "").trim().toLowerCase().replace(/\.$/, "");

/** Whether a hostname entry is the one named by `type` and `hostName`. */
export const isEntry = (h: HostnameConfiguration, e: { type: string; hostName: string }): boolean =>
  same(h.type, e.type) && same(h.hostName, e.hostName);

/**
 * The whole array with the named entries pointed at new Key Vault secret ids; every other entry (the
 * built-in one included) is sent back as it was. Read-only fields of changed entries are dropped.
 */
export function repointHostnames(
  current: readonly HostnameConfiguration[],
  changes: readonly { type: string; hostName: string; keyVaultId: string }[],
): HostnameConfiguration[] {
  return current.map((h) => {
    const change = changes.find((c) => isEntry(h, c));
    if (!change) return h;
    const {
      certificate: _c,
      certificateStatus: _s,
      encodedCertificate: _e,
      certificatePassword: _p,
      ...rest
    } = h;
    void _c;
    void _s;
    void _e;
    void _p;
    return { ...rest, keyVaultId: change.keyVaultId, certificateSource: "KeyVault" };
  });
}

/** PATCHes the service's hostname array (starts the update; does not wait for it). */
export async function patchHostnames(
  client: ApiManagementClient,
  id: ArmResourceId,
  hostnameConfigurations: HostnameConfiguration[],
): Promise<void> {
  await client.apiManagementService.beginUpdate(id.resourceGroup, id.name, { hostnameConfigurations });
}

/** Points a `certificates` entity at a Key Vault secret id (If-Match its current ETag). */
export async function repointCertificate(
  client: ApiManagementClient,
  id: ArmResourceId,
  certificateId: string,
  secretIdentifier: string,
): Promise<{ previousSecretIdentifier?: string; previousThumbprint?: string }> {
  const current = await client.certificate.get(id.resourceGroup, id.name, certificateId);
  await client.certificate.createOrUpdate(
    id.resourceGroup,
    id.name,
    certificateId,
    {
      keyVault: {
        secretIdentifier,
        ...(current.keyVault?.identityClientId
          ? { identityClientId: current.keyVault.identityClientId }
          : {}),
      },
    },
    current.eTag ? { ifMatch: current.eTag } : {},
  );
  return {
    ...(current.keyVault?.secretIdentifier
      ? { previousSecretIdentifier: current.keyVault.secretIdentifier }
      : {}),
    ...(current.thumbprint ? { previousThumbprint: current.thumbprint } : {}),
  };
}

/** Whether the service is busy with an infrastructure update (another one would be refused). */
export const isUpdating = (provisioningState: string | undefined): boolean =>
  !!provisioningState && !/^(succeeded|failed|canceled|cancelled)$/i.test(provisioningState);
