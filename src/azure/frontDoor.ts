/**
 * Front Door (Standard/Premium) through @azure/arm-cdn: customer-certificate secrets are
 * create-or-replace (PUT), custom domains are PATCHed to point at a secret.
 */
import type { CdnManagementClient } from "@azure/arm-cdn";
import { ArmTypes, parseArmId, type ArmResourceId } from "../domain/armIds.js";
import { ValidationError } from "../errors.js";

/** The parts of a Front Door profile id, or a ValidationError naming it. */
export function frontDoorProfileId(id: string): ArmResourceId {
  const p = parseArmId(id, ArmTypes.frontDoorProfile);
  if (!p) throw new ValidationError(`'${id}' is not a Front Door profile id.`, "profileId");
  return p;
}

/** The secret a custom domain uses now (by name), with its TLS settings. */
export async function domainSecret(
  client: CdnManagementClient,
  p: ArmResourceId,
  domain: string,
): Promise<{
  secretName?: string;
  minimumTlsVersion?: string;
  provisioningState?: string;
  deploymentStatus?: string;
}> {
  const d = await client.afdCustomDomains.get(p.resourceGroup, p.name, domain);
  const secretName = d.tlsSettings?.secret?.id?.split("/").pop();
  return {
    ...(secretName ? { secretName } : {}),
    ...(d.tlsSettings?.minimumTlsVersion ? { minimumTlsVersion: d.tlsSettings.minimumTlsVersion } : {}),
    ...(d.provisioningState ? { provisioningState: d.provisioningState } : {}),
    ...(d.deploymentStatus ? { deploymentStatus: d.deploymentStatus } : {}),
  };
}

/** A secret's customer-certificate reference and thumbprint (as Front Door shows it). */
export async function secretInfo(
  client: CdnManagementClient,
  p: ArmResourceId,
  name: string,
): Promise<{
  secretSourceId?: string;
  secretVersion?: string;
  useLatestVersion?: boolean;
  thumbprint?: string;
}> {
  const s = await client.secrets.get(p.resourceGroup, p.name, name);
  const params = s.parameters as
    | {
        secretSource?: { id?: string };
        secretVersion?: string;
        useLatestVersion?: boolean;
        thumbprint?: string;
      }
    | undefined;
  return {
    ...(params?.secretSource?.id ? { secretSourceId: params.secretSource.id } : {}),
    ...(params?.secretVersion ? { secretVersion: params.secretVersion } : {}),
    ...(params?.useLatestVersion !== undefined ? { useLatestVersion: params.useLatestVersion } : {}),
    ...(params?.thumbprint ? { thumbprint: params.thumbprint } : {}),
  };
}

/** PUTs a customer-certificate secret for one vault version and waits for its provisioning. */
export async function putSecret(
  client: CdnManagementClient,
  p: ArmResourceId,
  name: string,
  secretSourceId: string,
  secretVersion: string,
  pollMs: number,
): Promise<void> {
  await client.secrets.beginCreateAndWait(
    p.resourceGroup,
    p.name,
    name,
    {
      parameters: {
        type: "CustomerCertificate",
        secretSource: { id: secretSourceId },
        secretVersion,
        useLatestVersion: false,
      },
    },
    { updateIntervalInMs: pollMs },
  );
}

/** PATCHes a custom domain to use a secret (starts the update and deployment; does not wait). */
export async function repointDomain(
  client: CdnManagementClient,
  p: ArmResourceId,
  domain: string,
  secretName: string,
  minimumTlsVersion?: string,
): Promise<void> {
  await client.afdCustomDomains.beginUpdate(p.resourceGroup, p.name, domain, {
    tlsSettings: {
      certificateType: "CustomerCertificate",
      ...(minimumTlsVersion ? { minimumTlsVersion: minimumTlsVersion as "TLS12" } : {}),
      secret: { id: `${p.id}/secrets/${secretName}` },
    },
  });
}
