/**
 * The lab Key Vault data plane (certificates, their secrets, issuers, contacts) on the shared
 * keyVault server. Vaults are addressed by host name, `https://<vault>.vault.localhost:<port>/`,
 * which the lab's localhostResolver preload resolves for Node, so the SDK's challenge-resource
 * verification stays on: the challenge names `resource="https://vault.localhost"`.
 *
 * Wire behaviour (FACTS.md §2): api-version required (2025-07-01; 7.x accepted); the Bearer challenge
 * (401 + WWW-Authenticate on any request without a valid token); tokens for audience
 * https://vault.localhost; Azure RBAC data actions on the vault's ARM id (403 Forbidden /
 * ForbiddenByRbac); the pending-operation create flow; snake_case policies.
 *
 * Layout: core/pipeline.ts (headers, auth, faults, RBAC), core/errors.ts (the error factory),
 * core/responses.ts (shared bodies and paging), one file of handlers per resource (issuers,
 * contacts, certificateOperations, certificatePolicy, certificates, deletedCertificates, secrets),
 * model.ts (the vault behaviour over state.ts), seed.ts, control.ts.
 *
 * Faults (service "keyvault"): `latency`, `status` (e.g. 429 + retryAfterSeconds), `drop` through
 * faultMiddleware, matched against "METHOD /path"; `lroFailed` (match "POST /certificates/<name>/create"):
 * the next pending create of a matching certificate ends `failed` with the rule's code/message.
 *
 * Lab control routes (control.ts): GET/POST /lab/keyvault/settings {createDelayMs?, nearExpiryDays?,
 * pageSize?}, POST /lab/keyvault/evaluate (run clock-driven behaviour now), GET /lab/keyvault/notifications.
 */
import { randomUUID } from "node:crypto";
import type { LabContext, LabService } from "../core/lab.js";
import { vaultId } from "../seed.js";
import { KEYVAULT_API } from "./api.js";
import { registerCertificateOperations } from "./certificateOperations.js";
import { registerCertificatePolicy } from "./certificatePolicy.js";
import { registerCertificates } from "./certificates.js";
import { registerContacts } from "./contacts.js";
import { registerControl } from "./control.js";
import { KeyVaultPipeline } from "./core/pipeline.js";
import { registerDeletedCertificates } from "./deletedCertificates.js";
import { registerIssuers } from "./issuers.js";
import { KeyVaultModel } from "./model.js";
import { registerSecrets } from "./secrets.js";
import { seedVault } from "./seed.js";
import type { KeyVaultState, VaultEvent } from "./state.js";
import { KEYVAULT_AUDIENCE, VAULT_DOMAIN, epoch } from "./wire.js";

/** Options of the lab Key Vault service. */
export interface KeyVaultServiceOptions {
  /** Name of the seeded integrated-CA issuer (provider "LabCA"). Default "LabCA". */
  caIssuerName?: string;
  /** How often the clock-driven behaviour is evaluated (real ms). Default 250. */
  evaluateIntervalMs?: number;
}

/** How vaults are addressed: data-plane URL and ARM id per vault name. */
interface VaultUrls {
  /** `https://<vault>.vault.localhost:<port>` (no trailing slash). */
  vaultUrl: (vault: string) => string;
  /** ARM id of the vault. */
  vaultResourceId: (vault: string) => string;
}

/** The lab Key Vault service. */
export function keyVaultService(options: KeyVaultServiceOptions = {}): LabService {
  return {
    name: "keyvault",
    start: (ctx: LabContext) => startKeyVault(ctx, options),
  };
}

async function startKeyVault(ctx: LabContext, options: KeyVaultServiceOptions): Promise<void> {
  // 1. State (one document in the lab store) and the model over it.
  const urls = vaultUrls(ctx);
  const firstStart = !ctx.store.has("keyvault");
  const state = ctx.store.load<KeyVaultState>("keyvault", () => ({
    vaults: {},
    settings: { createDelayMs: 1500, nearExpiryDays: 30 },
  }));
  const save = () => ctx.store.save("keyvault", state);
  const model = new KeyVaultModel(state, ctx, urls, save, eventPublisher(ctx, urls), (vault, name) =>
    ctx.bus.emit("resource.changed", {
      service: "keyvault",
      id: `${urls.vaultResourceId(vault)}/certificates/${name}`,
    }),
  );

  // 2. The seeded vault, on the first start only.
  if (firstStart) {
    await seedVault(ctx, model, options.caIssuerName ?? "LabCA");
    save();
  }

  // 3. What other services and the app see: the in-process API, endpoints and settings.
  ctx.registry.set(KEYVAULT_API, model);
  publishEndpoints(ctx, model, urls);

  // 4. Clock-driven behaviour, then the control and data-plane routes.
  const evaluate = startEvaluation(ctx, model, options.evaluateIntervalMs ?? 250);
  registerControl(ctx, model, save, evaluate);
  registerDataPlane(ctx, model, urls);
}

function vaultUrls(ctx: LabContext): VaultUrls {
  const server = ctx.servers.keyVault;
  const seedName = ctx.seed.vault.name;
  return {
    vaultUrl: (vault) => `https://${vault}.${VAULT_DOMAIN}:${server.port}`,
    vaultResourceId: (vault) =>
      vault.toLowerCase() === seedName.toLowerCase()
        ? vaultId(ctx.seed)
        : `/subscriptions/${ctx.seed.subscriptionId}/resourceGroups/${ctx.seed.resourceGroup}/providers/Microsoft.KeyVault/vaults/${vault}`,
  };
}

/** Sends Key Vault's events to the bus as Event Grid events (`keyvault.event`). */
function eventPublisher(ctx: LabContext, urls: VaultUrls): (e: VaultEvent) => void {
  return (e) =>
    ctx.bus.emit("keyvault.event", {
      id: randomUUID(),
      topic: urls.vaultResourceId(e.vault),
      subject: e.name,
      eventType: `Microsoft.KeyVault.${e.type}`,
      eventTime: ctx.clock.now().toISOString(),
      data: {
        Id: `${urls.vaultUrl(e.vault)}/certificates/${e.name}/${e.version}`,
        VaultName: e.vault,
        ObjectType: "Certificate",
        ObjectName: e.name,
        Version: e.version,
        NBF: epoch(e.nbf),
        EXP: epoch(e.exp),
      },
      dataVersion: "1",
      metadataVersion: "1",
    });
}

/** `ctx.endpoints.keyVault` (vaults, seeded certificates) and `AZURE_KEYVAULT_URL`. */
function publishEndpoints(ctx: LabContext, model: KeyVaultModel, urls: VaultUrls): void {
  const seedName = ctx.seed.vault.name;
  const seedUrl = urls.vaultUrl(seedName);
  ctx.endpoints.keyVault = {
    audience: KEYVAULT_AUDIENCE,
    vaults: Object.fromEntries(
      model.vaults().map((v) => [v, { url: `${urls.vaultUrl(v)}/`, resourceId: urls.vaultResourceId(v) }]),
    ),
    url: `${seedUrl}/`,
    certificates: Object.fromEntries(
      Object.entries(ctx.seed.certificates).map(([role, c]) => [
        role,
        {
          name: c.name,
          id: `${seedUrl}/certificates/${c.name}`,
          secretId: `${seedUrl}/secrets/${c.name}`,
          secretResourceId: `${urls.vaultResourceId(seedName)}/secrets/${c.name}`,
        },
      ]),
    ),
  };
  ctx.env.AZURE_KEYVAULT_URL = `${seedUrl}/`;
}

/**
 * Evaluates pending completions, near-expiry/expired events and lifetime actions every
 * `intervalMs` (one evaluation at a time). Returns the evaluation, for the control route.
 */
function startEvaluation(ctx: LabContext, model: KeyVaultModel, intervalMs: number): () => Promise<void> {
  let running = false;
  const evaluate = async () => {
    if (running) return;
    running = true;
    try {
      await model.evaluate();
    } catch (e) {
      ctx.log(`keyvault: evaluation failed: ${(e as Error).message}`);
    } finally {
      running = false;
    }
  };
  // evaluate() never rejects: it logs its own failures.
  const timer = setInterval(() => void evaluate(), intervalMs);
  timer.unref();
  ctx.onStop(() => clearInterval(timer));
  return evaluate;
}

/** The data plane on the keyVault server: the pipeline, then each resource's handlers. */
function registerDataPlane(ctx: LabContext, model: KeyVaultModel, urls: VaultUrls): void {
  const router = ctx.servers.keyVault.router;
  const pipeline = new KeyVaultPipeline(ctx, model, urls.vaultResourceId);
  pipeline.install(router);
  // Literal paths under /certificates first: /certificates/:name and /:name/:version would swallow them.
  registerIssuers(router, pipeline, model);
  registerContacts(router, pipeline, model);
  registerCertificateOperations(router, pipeline, model);
  registerCertificatePolicy(router, pipeline, model);
  registerCertificates(router, pipeline, model);
  registerDeletedCertificates(router, pipeline, model);
  registerSecrets(router, pipeline, model);
}
