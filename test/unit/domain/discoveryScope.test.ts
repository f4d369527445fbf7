import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Binding, DeclaredReferences } from "../../../src/domain/bindings.js";
import { blockingWarnings, type DiscoveryWarning } from "../../../src/domain/discoveryScope.js";

const APIM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-a";
const OTHER = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-b";
const ref = { vaultName: "kv-a", certificateName: "edge" };
const unreadable = (resource?: string): DiscoveryWarning => ({
  reason: "AuthorizationFailed",
  message: `Reading ${resource ?? "a scope"} failed.`,
  ...(resource ? { resource } : {}),
});
const declared = (resource: string, ...certificates: string[]): DeclaredReferences => ({
  resource,
  certificates: certificates.map((c) => {
    const [vaultName, certificateName] = c.split("/") as [string, string];
    return { vaultName, certificateName };
  }),
});
const explicitOn = (serviceId: string, certificateName: string): Binding => ({
  kind: "apimHostname",
  source: "explicit",
  certificate: { vaultName: "kv-a", certificateName },
  serviceId,
  hostnameType: "Proxy",
  hostName: "api.contoso.com",
});

describe("which unread parts of discovery block a certificate", () => {
  const cases: {
    name: string;
    warning: DiscoveryWarning;
    declared?: DeclaredReferences[];
    explicit?: Binding[];
    blocks: boolean;
  }[] = [
    {
      name: "a scope that could not be listed blocks every certificate",
      warning: unreadable(),
      blocks: true,
    },
    {
      name: "an unreadable service nothing is declared about blocks every certificate",
      warning: unreadable(APIM),
      blocks: true,
    },
    {
      name: "an unreadable service declared to reference other certificates does not block",
      warning: unreadable(APIM),
      declared: [declared(APIM, "kv-a/gateway", "kv-b/*")],
      blocks: false,
    },
    {
      name: "an unreadable service declared to reference the certificate blocks it (ids compared case-insensitively)",
      warning: unreadable(APIM.toUpperCase()),
      declared: [declared(APIM, "KV-A/EDGE")],
      blocks: true,
    },
    {
      name: "an unreadable service declared to reference every certificate of the vault blocks it",
      warning: unreadable(APIM),
      declared: [declared(APIM, "kv-a/*")],
      blocks: true,
    },
    {
      name: "a declaration about another service changes nothing for this one",
      warning: unreadable(APIM),
      declared: [declared(OTHER)],
      blocks: true,
    },
    {
      name: "an unreadable service the bindings file binds the certificate on blocks it, whatever is declared",
      warning: unreadable(APIM),
      declared: [declared(APIM)],
      explicit: [explicitOn(APIM, "edge")],
      blocks: true,
    },
    {
      name: "an explicit binding of the certificate on another service does not make this one block",
      warning: unreadable(APIM),
      declared: [declared(APIM)],
      explicit: [explicitOn(OTHER, "edge")],
      blocks: false,
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const split = blockingWarnings([c.warning], ref, c.declared ?? [], c.explicit ?? []);
      const plain = { reason: c.warning.reason, message: c.warning.message };
      assert.deepEqual(
        split,
        c.blocks ? { blocking: [plain], unrelated: [] } : { blocking: [], unrelated: [plain] },
      );
    });
});
