/**
 * The seeded vault on the lab's first start: the integrated-CA issuer, one certificate per seeded
 * role (issued at once, so the lab starts with a version of each), and the vault's role
 * assignments (issue 6's least-privilege list).
 */
import type { LabContext } from "../core/lab.js";
import { vaultId } from "../seed.js";
import type { KeyVaultModel } from "./model.js";
import { CLIENT_AUTH, PKCS12, SERVER_AUTH, type WirePolicy } from "./wire.js";

/** Creates the seeded vault with its issuer `caIssuer` and certificates, and assigns its roles. */
export async function seedVault(ctx: LabContext, model: KeyVaultModel, caIssuer: string): Promise<void> {
  const state = model.state;
  const name = ctx.seed.vault.name;
  state.vaults[name.toLowerCase()] = { name, certificates: {}, deleted: {}, issuers: {}, notifications: [] };
  model.setIssuer(name, caIssuer, { provider: "LabCA" }, false);
  // Issue at once: the create delay is lifted while the seeded certificates are created.
  const settings = { ...state.settings };
  state.settings.createDelayMs = 0;
  for (const [role, c] of Object.entries(ctx.seed.certificates)) {
    await model.beginCreate(name, c.name, { policy: seededPolicy(role, c.hosts, caIssuer) });
  }
  await model.completeDue();
  state.settings = settings;
  assignVaultRoles(ctx);
}

function seededPolicy(role: string, hosts: readonly string[], caIssuer: string): Partial<WirePolicy> {
  return {
    key_props: { exportable: true, kty: "RSA", key_size: 2048, reuse_key: false },
    secret_props: { contentType: PKCS12 },
    x509_props: {
      subject: `CN=${hosts[0]}`,
      sans: { dns_names: [...hosts] },
      ekus: role === "client" ? [CLIENT_AUTH] : [SERVER_AUTH],
      key_usage: ["digitalSignature", "keyEncipherment"],
      validity_months: 12,
    },
    // EmailContacts, so the product sees CertificateNearExpiry 30 days before expiry and renews itself.
    lifetime_actions: [{ trigger: { lifetime_percentage: 80 }, action: { action_type: "EmailContacts" } }],
    issuer: { name: caIssuer },
  };
}

/** Role assignments on the vault, unless the vault has some already. */
function assignVaultRoles(ctx: LabContext): void {
  const scope = vaultId(ctx.seed);
  const ids = ctx.seed.identities;
  if (ctx.auth.assignments().some((a) => a.scope.toLowerCase() === scope.toLowerCase())) return;
  ctx.auth.assign(ids.controlPlane.objectId, "Key Vault Certificates Officer", scope);
  ctx.auth.assign(ids.controlPlane.objectId, "Key Vault Secrets User", scope);
  ctx.auth.assign(ids.frontDoor.objectId, "Key Vault Secrets User", scope);
  ctx.auth.assign(ids.apim.objectId, "Key Vault Secrets User", scope);
  ctx.auth.assign(ids.operator.objectId, "Key Vault Administrator", scope);
}
