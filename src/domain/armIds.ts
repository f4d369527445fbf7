/**
 * Azure Resource Manager ids: parsing and comparing. ARM ids are case-insensitive, so identity
 * comparisons go through {@link normaliseArmId}.
 */

/** The parts of a top-level ARM resource id. */
export interface ArmResourceId {
  subscriptionId: string;
  resourceGroup: string;
  /** e.g. `Microsoft.KeyVault`. */
  provider: string;
  /** e.g. `vaults`. */
  type: string;
  name: string;
  /** The id as given, trimmed, without a trailing slash. */
  id: string;
}

const ARM_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+)\/([^/]+)\/([^/]+)$/i;

/**
 * Parses `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}`, optionally
 * requiring a provider and type (compared case-insensitively). Returns `undefined` when the text
 * is not such an id.
 */
export function parseArmId(
  text: string,
  expect?: { provider: string; type: string },
): ArmResourceId | undefined {
  const id = text.trim().replace(/\/+$/, "");
  const m = ARM_ID.exec(id);
  if (!m) return undefined;
  const [, subscriptionId, resourceGroup, provider, type, name] = m as unknown as string[];
  if (
    expect &&
    (provider!.toLowerCase() !== expect.provider.toLowerCase() ||
      type!.toLowerCase() !== expect.type.toLowerCase())
  ) {
    return undefined;
  }
  return {
    subscriptionId: subscriptionId!,
    resourceGroup: resourceGroup!,
    provider: provider!,
    type: type!,
    name: name!,
    id,
  };
}

/** Lower-cased, trimmed, no trailing slash: the form used to compare ARM ids. */
export function normaliseArmId(id: string): string {
  return id.trim().replace(/\/+$/, "").toLowerCase();
}

/** Resource kinds the control plane addresses by ARM id. */
export const ArmTypes = {
  keyVault: { provider: "Microsoft.KeyVault", type: "vaults" },
  apiManagement: { provider: "Microsoft.ApiManagement", type: "service" },
  frontDoorProfile: { provider: "Microsoft.Cdn", type: "profiles" },
  managedCluster: { provider: "Microsoft.ContainerService", type: "managedClusters" },
} as const;
