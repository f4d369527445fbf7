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
 * Faults (service "keyvault"): `latency`, `status` (e.g. 429 + retryAfterSeconds), `drop` through
 * faultMiddleware, matched against "METHOD /path"; `lroFailed` (match "POST /certificates/<name>/create"):
 * the next pending create of a matching certificate ends `failed` with the rule's code/message.
 *
 * Lab control routes: GET/POST /lab/keyvault/settings {createDelayMs?, nearExpiryDays?, pageSize?},
 * POST /lab/keyvault/evaluate (run clock-driven behaviour now), GET /lab/keyvault/notifications.
 */
import { randomUUID } from "node:crypto";
import { faultMiddleware } from "../core/faults.js";
import type { LabRequest, LabResponse, Middleware } from "../core/http.js";
import type { LabContext, LabService } from "../core/lab.js";
import { vaultId } from "../seed.js";
import { KEYVAULT_API } from "./api.js";
import { certificateFacts } from "./crypto.js";
import {
  KeyVaultError,
  KeyVaultModel,
  completePolicy,
  type KeyVaultState,
  type StoredCertificate,
  type StoredDeleted,
  type StoredIssuer,
  type StoredPending,
  type StoredVersion,
  type VaultEvent,
} from "./model.js";
import {
  API_VERSIONS,
  CLIENT_AUTH,
  PKCS12,
  RECOVERABLE_DAYS,
  RECOVERY_LEVEL,
  SERVER_AUTH,
  epoch,
  errors,
  kvError,
  type WirePolicy,
} from "./wire.js";

/** Audience of lab Key Vault tokens (the challenge's `resource`). */
export const KEYVAULT_AUDIENCE = "https://vault.localhost";
/** Host-name suffix of lab vaults. */
export const VAULT_DOMAIN = "vault.localhost";

export interface KeyVaultServiceOptions {
  /** Name of the seeded integrated-CA issuer (provider "LabCA"). Default "LabCA". */
  caIssuerName?: string;
  /** How often the clock-driven behaviour is evaluated (real ms). Default 250. */
  evaluateIntervalMs?: number;
}

const DATA = "Microsoft.KeyVault/vaults";

export function keyVaultService(options: KeyVaultServiceOptions = {}): LabService {
  return {
    name: "keyvault",
    async start(ctx: LabContext) {
      const server = ctx.servers.keyVault;
      const seedVault = ctx.seed.vault.name;
      const resourceId = (vault: string) =>
        vault.toLowerCase() === seedVault.toLowerCase()
          ? vaultId(ctx.seed)
          : `/subscriptions/${ctx.seed.subscriptionId}/resourceGroups/${ctx.seed.resourceGroup}/providers/Microsoft.KeyVault/vaults/${vault}`;
      const vaultUrl = (vault: string) => `https://${vault}.${VAULT_DOMAIN}:${server.port}`;
      const firstStart = !ctx.store.has("keyvault");
      const state = ctx.store.load<KeyVaultState>("keyvault", () => ({
        vaults: {},
        settings: { createDelayMs: 1500, nearExpiryDays: 30 },
      }));
      const save = () => ctx.store.save("keyvault", state);
      const publish = (e: VaultEvent) =>
        ctx.bus.emit("keyvault.event", {
          id: randomUUID(),
          topic: resourceId(e.vault),
          subject: e.name,
          eventType: `Microsoft.KeyVault.${e.type}`,
          eventTime: ctx.clock.now().toISOString(),
          data: {
            Id: `${vaultUrl(e.vault)}/certificates/${e.name}/${e.version}`,
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
      const model = new KeyVaultModel(
        state,
        ctx,
        { vaultUrl, vaultResourceId: resourceId },
        save,
        publish,
        (vault, name) =>
          ctx.bus.emit("resource.changed", {
            service: "keyvault",
            id: `${resourceId(vault)}/certificates/${name}`,
          }),
      );

      if (firstStart) {
        await seed(ctx, model, state, options.caIssuerName ?? "LabCA");
        save();
      }
      ctx.registry.set(KEYVAULT_API, model);
      ctx.endpoints.keyVault = {
        audience: KEYVAULT_AUDIENCE,
        vaults: Object.fromEntries(
          model.vaults().map((v) => [v, { url: `${vaultUrl(v)}/`, resourceId: resourceId(v) }]),
        ),
        url: `${vaultUrl(seedVault)}/`,
        certificates: Object.fromEntries(
          Object.entries(ctx.seed.certificates).map(([role, c]) => [
            role,
            {
              name: c.name,
              id: `${vaultUrl(seedVault)}/certificates/${c.name}`,
              secretId: `${vaultUrl(seedVault)}/secrets/${c.name}`,
              secretResourceId: `${resourceId(seedVault)}/secrets/${c.name}`,
            },
          ]),
        ),
      };
      ctx.env.AZURE_KEYVAULT_URL = `${vaultUrl(seedVault)}/`;

      // Clock-driven behaviour: pending completions, near-expiry/expired events, lifetime actions.
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
      const timer = setInterval(() => void evaluate(), options.evaluateIntervalMs ?? 250);
      timer.unref();
      ctx.onStop(() => clearInterval(timer));

      registerControl(ctx, model, state, save, evaluate);
      registerRoutes(ctx, model, state, { vaultUrl, resourceId });
    },
  };
}

async function seed(
  ctx: LabContext,
  model: KeyVaultModel,
  state: KeyVaultState,
  caIssuer: string,
): Promise<void> {
  const name = ctx.seed.vault.name;
  state.vaults[name.toLowerCase()] = { name, certificates: {}, deleted: {}, issuers: {}, notifications: [] };
  model.setIssuer(name, caIssuer, { provider: "LabCA" }, false);
  const settings = { ...state.settings };
  state.settings.createDelayMs = 0;
  for (const [role, c] of Object.entries(ctx.seed.certificates)) {
    const policy: Partial<WirePolicy> = {
      key_props: { exportable: true, kty: "RSA", key_size: 2048, reuse_key: false },
      secret_props: { contentType: PKCS12 },
      x509_props: {
        subject: `CN=${c.hosts[0]}`,
        sans: { dns_names: [...c.hosts] },
        ekus: role === "client" ? [CLIENT_AUTH] : [SERVER_AUTH],
        key_usage: ["digitalSignature", "keyEncipherment"],
        validity_months: 12,
      },
      // EmailContacts, so the product sees CertificateNearExpiry 30 days before expiry and renews itself.
      lifetime_actions: [{ trigger: { lifetime_percentage: 80 }, action: { action_type: "EmailContacts" } }],
      issuer: { name: caIssuer },
    };
    await model.beginCreate(name, c.name, { policy });
  }
  await model.completeDue();
  state.settings = settings;
  // Role assignments on the vault (issue 6's least-privilege list).
  const scope = vaultId(ctx.seed);
  const ids = ctx.seed.identities;
  if (!ctx.auth.assignments().some((a) => a.scope.toLowerCase() === scope.toLowerCase())) {
    ctx.auth.assign(ids.controlPlane.objectId, "Key Vault Certificates Officer", scope);
    ctx.auth.assign(ids.controlPlane.objectId, "Key Vault Secrets User", scope);
    ctx.auth.assign(ids.frontDoor.objectId, "Key Vault Secrets User", scope);
    ctx.auth.assign(ids.apim.objectId, "Key Vault Secrets User", scope);
    ctx.auth.assign(ids.operator.objectId, "Key Vault Administrator", scope);
  }
}

function registerControl(
  ctx: LabContext,
  model: KeyVaultModel,
  state: KeyVaultState,
  save: () => void,
  evaluate: () => Promise<void>,
): void {
  const r = ctx.servers.control.router;
  r.on("GET", "/lab/keyvault/settings", () => ({ status: 200, body: state.settings }));
  r.on("POST", "/lab/keyvault/settings", (req) => {
    const body = (req.body ?? {}) as Partial<KeyVaultState["settings"]>;
    for (const k of ["createDelayMs", "nearExpiryDays", "pageSize"] as const) {
      const v = body[k];
      if (v !== undefined) {
        if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
          return {
            status: 400,
            body: { error: { code: "BadRequest", message: `${k} must be a number >= 0.` } },
          };
        state.settings[k] = v;
      }
    }
    save();
    return { status: 200, body: state.settings };
  });
  r.on("POST", "/lab/keyvault/evaluate", async () => {
    await evaluate();
    return { status: 200, body: { now: ctx.clock.now().toISOString() } };
  });
  r.on("GET", "/lab/keyvault/notifications", () => ({
    status: 200,
    body: {
      value: model.vaults().flatMap((v) => model.vault(v)!.notifications.map((n) => ({ vault: v, ...n }))),
    },
  }));
}

interface Urls {
  vaultUrl: (vault: string) => string;
  resourceId: (vault: string) => string;
}

function vaultOf(req: LabRequest): string | undefined {
  const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
  if (!host.endsWith(`.${VAULT_DOMAIN}`)) return undefined;
  return host.slice(0, -VAULT_DOMAIN.length - 1).split(".")[0];
}

/** Key Vault's reply headers. */
function withKvHeaders(out: LabResponse): LabResponse {
  return {
    ...out,
    headers: {
      "x-ms-keyvault-region": "westeurope",
      "x-ms-keyvault-service-version": "1.9.2700.1",
      "x-ms-request-id": randomUUID(),
      "cache-control": "no-cache",
      ...(out.headers ?? {}),
    },
  };
}

function authMiddleware(ctx: LabContext, model: KeyVaultModel): Middleware {
  const challenge = `Bearer authorization="https://login.microsoftonline.com/${ctx.auth.tenantId}", resource="${KEYVAULT_AUDIENCE}"`;
  const unauthorized = (message: string): LabResponse => ({
    ...kvError(401, "Unauthorized", message),
    headers: { "www-authenticate": challenge },
  });
  return async (req, next) => {
    const vault = vaultOf(req);
    if (!vault || !model.vault(vault)) {
      return kvError(
        404,
        "VaultNotFound",
        `No lab vault answers at host '${req.headers.host ?? ""}'. Use https://<vault>.${VAULT_DOMAIN}:<port>/.`,
      );
    }
    const apiVersion = req.query.get("api-version");
    if (!apiVersion)
      return kvError(
        400,
        "BadParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
      );
    if (!API_VERSIONS.includes(apiVersion))
      return kvError(
        400,
        "BadParameter",
        `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (2025-07-01).`,
      );
    const header = req.headers.authorization;
    if (!header) return unauthorized("AKV10000: Request is missing a Bearer or PoP token.");
    const check = await ctx.auth.verify(header, [KEYVAULT_AUDIENCE]);
    if (!check.ok) {
      switch (check.reason) {
        case "audience": {
          const found = /audience '([^']*)'/.exec(check.message)?.[1] ?? "";
          return unauthorized(`AKV10022: Invalid audience. Expected ${KEYVAULT_AUDIENCE}, found: ${found}.`);
        }
        case "expired":
          return unauthorized("[TokenExpired] Error validating token: 'S2S12086'.");
        case "signature":
          return unauthorized("AKV10046: Unable to resolve the key used for signature validation.");
        default:
          return unauthorized("AKV10000: Request is missing a Bearer or PoP token.");
      }
    }
    req.principal = check.principal;
    return next();
  };
}

function registerRoutes(ctx: LabContext, model: KeyVaultModel, state: KeyVaultState, urls: Urls): void {
  const r = ctx.servers.keyVault.router;
  const kvFault = faultMiddleware(ctx.faults, "keyvault", (status, code, message) => ({
    error: { code, message },
  }));
  r.use(async (req, next) => {
    const out = await next();
    return typeof out === "symbol" ? out : withKvHeaders(out);
  });
  r.use(authMiddleware(ctx, model));
  r.use(kvFault);

  type Op = (req: LabRequest, vault: string) => Promise<LabResponse> | LabResponse;
  /** Wraps a handler with its RBAC data action on `<vault id>/<kind>/<name>`. */
  const h =
    (
      dataAction: string,
      kind: "certificates" | "secrets" | "certificatecas" | "certificatecontacts",
      op: Op,
    ) =>
    async (req: LabRequest): Promise<LabResponse> => {
      const vault = model.vault(vaultOf(req)!)!.name;
      const name = req.params.name;
      const scope = `${urls.resourceId(vault)}${name ? `/${kind}/${name}` : ""}`;
      const principal = req.principal!;
      if (!ctx.auth.isAllowed(principal.objectId, scope, { dataAction: `${DATA}/${dataAction}` })) {
        return kvError(
          403,
          "Forbidden",
          `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=${principal.clientId};oid=${principal.objectId};iss=${ctx.auth.issuer}\r\nAction: '${DATA}/${dataAction}'\r\nResource: '${scope.toLowerCase()}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: ${vault};location=${ctx.seed.location}\r\n`,
          "ForbiddenByRbac",
        );
      }
      try {
        return await op(req, vault);
      } catch (e) {
        if (e instanceof KeyVaultError) return kvError(e.status, e.code, e.message);
        throw e;
      }
    };

  const base = (vault: string) => urls.vaultUrl(vault);
  const attributes = (v: StoredVersion, _policy: WirePolicy) => {
    const facts = certificateFacts(v.chain[0]!);
    return {
      enabled: v.enabled,
      nbf: epoch(facts.notBefore),
      exp: epoch(facts.notAfter),
      created: epoch(v.created),
      updated: epoch(v.updated),
      recoveryLevel: RECOVERY_LEVEL,
      recoverableDays: RECOVERABLE_DAYS,
    };
  };
  const policyJson = (vault: string, cert: StoredCertificate) => ({
    id: `${base(vault)}/certificates/${cert.name}/policy`,
    ...cert.policy,
  });
  const bundle = (vault: string, cert: StoredCertificate, v: StoredVersion, withPolicy = true) => {
    const info = model.info(vault, cert, v);
    return {
      id: info.certificateId,
      kid: `${base(vault)}/keys/${cert.name}/${v.version}`,
      sid: info.secretId,
      x5t: info.x5t,
      cer: Buffer.from(info.certPem.replace(/-----[A-Z ]+-----|\s+/g, ""), "base64").toString("base64"),
      attributes: attributes(v, cert.policy),
      ...((v.tags ?? cert.tags) ? { tags: v.tags ?? cert.tags } : {}),
      ...(withPolicy ? { policy: policyJson(vault, cert) } : {}),
      ...(cert.preserveCertOrder !== undefined ? { preserveCertOrder: cert.preserveCertOrder } : {}),
    };
  };
  /** What GET /certificates/{name}/ answers while only a pending version exists. */
  const pendingBundle = (vault: string, cert: StoredCertificate, p: StoredPending) => ({
    id: `${base(vault)}/certificates/${cert.name}/${p.version}`,
    kid: `${base(vault)}/keys/${cert.name}/${p.version}`,
    sid: `${base(vault)}/secrets/${cert.name}/${p.version}`,
    attributes: {
      enabled: false,
      created: epoch(p.created),
      updated: epoch(p.created),
      recoveryLevel: RECOVERY_LEVEL,
      recoverableDays: RECOVERABLE_DAYS,
    },
    ...(cert.tags ? { tags: cert.tags } : {}),
    policy: policyJson(vault, cert),
  });
  const operation = (vault: string, cert: StoredCertificate, p: StoredPending) => ({
    id: `${base(vault)}/certificates/${cert.name}/pending`,
    issuer: { name: p.issuerName },
    csr: p.csr,
    cancellation_requested: p.cancellationRequested,
    status: p.status,
    ...(p.statusDetails ? { status_details: p.statusDetails } : {}),
    ...(p.error ? { error: p.error } : {}),
    ...(p.status === "completed" ? { target: `${base(vault)}/certificates/${cert.name}` } : {}),
    request_id: p.requestId,
  });
  const deletedBundle = (vault: string, d: StoredDeleted) => {
    const latest = d.versions.at(-1);
    return {
      ...(latest ? bundle(vault, d, latest) : { id: `${base(vault)}/certificates/${d.name}` }),
      recoveryId: `${base(vault)}/deletedcertificates/${d.name}`,
      deletedDate: epoch(d.deletedDate),
      scheduledPurgeDate: epoch(d.scheduledPurgeDate),
    };
  };
  const issuerJson = (vault: string, i: StoredIssuer) => ({
    id: `${base(vault)}/certificates/issuers/${i.name}`,
    provider: i.provider,
    ...(i.accountId ? { credentials: { account_id: i.accountId } } : {}),
    ...(i.orgDetails ? { org_details: i.orgDetails } : {}),
    attributes: { enabled: i.enabled, created: epoch(i.created), updated: epoch(i.updated) },
  });
  const ok = (body: unknown, status = 200): LabResponse => ({ status, body });

  const findCert = (vault: string, name: string) => {
    const cert = model.certificate(vault, name);
    if (!cert)
      throw new KeyVaultError(404, "CertificateNotFound", errorMessage(errors.certificateNotFound(name)));
    return cert;
  };
  const findVersion = (cert: StoredCertificate, version: string | undefined) => {
    const v = version ? cert.versions.find((x) => x.version === version) : cert.versions.at(-1);
    if (!v)
      throw new KeyVaultError(
        404,
        "CertificateNotFound",
        errorMessage(errors.versionNotFound(cert.name, version ?? "")),
      );
    return v;
  };

  /** Pages `items` with `maxresults` (max 25) and a `$skiptoken` nextLink, as Key Vault does. */
  const page = (req: LabRequest, items: unknown[]): LabResponse => {
    const limit = state.settings.pageSize ?? 25;
    const max = Math.min(limit, Math.max(1, Number(req.query.get("maxresults") ?? limit) || limit));
    const skip = Number(req.query.get("$skiptoken") ?? 0) || 0;
    const slice = items.slice(skip, skip + max);
    let nextLink: string | null = null;
    if (skip + max < items.length) {
      const next = new URL(req.url.toString());
      next.searchParams.set("$skiptoken", String(skip + max));
      next.searchParams.set("maxresults", String(max));
      nextLink = `https://${req.headers.host}${next.pathname}${next.search}`;
    }
    return ok({ value: slice, nextLink });
  };

  // -- issuers and contacts (before /certificates/:name, which would swallow them) --
  r.on(
    "GET",
    "/certificates/issuers",
    h("certificatecas/read", "certificatecas", (req, vault) =>
      page(
        req,
        Object.values(model.vault(vault)!.issuers).map((i) => ({
          id: `${base(vault)}/certificates/issuers/${i.name}`,
          provider: i.provider,
        })),
      ),
    ),
  );
  r.on(
    "GET",
    "/certificates/issuers/:name",
    h("certificatecas/read", "certificatecas", (req, vault) => {
      const i = model.vault(vault)!.issuers[req.params.name!.toLowerCase()];
      return i ? ok(issuerJson(vault, i)) : errors.issuerNotFound(req.params.name!);
    }),
  );
  r.on(
    "PUT",
    "/certificates/issuers/:name",
    h("certificatecas/write", "certificatecas", (req, vault) =>
      ok(issuerJson(vault, model.setIssuer(vault, req.params.name!, asObject(req.body), false))),
    ),
  );
  r.on(
    "PATCH",
    "/certificates/issuers/:name",
    h("certificatecas/write", "certificatecas", (req, vault) =>
      ok(issuerJson(vault, model.setIssuer(vault, req.params.name!, asObject(req.body), true))),
    ),
  );
  r.on(
    "DELETE",
    "/certificates/issuers/:name",
    h("certificatecas/delete", "certificatecas", (req, vault) =>
      ok(issuerJson(vault, model.deleteIssuer(vault, req.params.name!))),
    ),
  );
  const contactsJson = (vault: string) => ({
    id: `${base(vault)}/certificates/contacts`,
    contacts: model.vault(vault)!.contacts ?? [],
  });
  r.on(
    "GET",
    "/certificates/contacts",
    h("certificatecontacts/read", "certificatecontacts", (_req, vault) =>
      model.vault(vault)!.contacts
        ? ok(contactsJson(vault))
        : kvError(404, "ContactsNotFound", "Contacts not found"),
    ),
  );
  r.on(
    "PUT",
    "/certificates/contacts",
    h("certificatecontacts/write", "certificatecontacts", (req, vault) => {
      const contacts = asObject(req.body).contacts;
      model.vault(vault)!.contacts = Array.isArray(contacts)
        ? (contacts as Array<Record<string, string>>)
        : [];
      ctx.store.save("keyvault", state);
      return ok(contactsJson(vault));
    }),
  );
  r.on(
    "DELETE",
    "/certificates/contacts",
    h("certificatecontacts/write", "certificatecontacts", (_req, vault) => {
      const out = contactsJson(vault);
      delete model.vault(vault)!.contacts;
      ctx.store.save("keyvault", state);
      return ok(out);
    }),
  );

  // -- certificates --
  r.on(
    "GET",
    "/certificates",
    h("certificates/read", "certificates", (req, vault) => {
      const includePending = req.query.get("includePending") === "true";
      const items = Object.values(model.vault(vault)!.certificates)
        .filter((c) => c.versions.length > 0 || includePending)
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((c) => {
          const latest = c.versions.at(-1);
          return {
            id: `${base(vault)}/certificates/${c.name}`,
            ...(latest
              ? { x5t: model.info(vault, c, latest).x5t, attributes: attributes(latest, c.policy) }
              : { attributes: { enabled: false, recoveryLevel: RECOVERY_LEVEL } }),
            ...(c.tags ? { tags: c.tags } : {}),
          };
        });
      return page(req, items);
    }),
  );
  r.on(
    "POST",
    "/certificates/:name/create",
    h("certificates/create/action", "certificates", async (req, vault) => {
      const body = asObject(req.body) as Parameters<KeyVaultModel["beginCreate"]>[2];
      const cert = await model.beginCreate(vault, req.params.name!, body);
      const p = cert.pending!;
      const apiVersion = req.query.get("api-version")!;
      return {
        status: 202,
        headers: {
          location: `${base(vault)}/certificates/${cert.name}/pending?api-version=${apiVersion}&request_id=${p.requestId}`,
          "retry-after": "10",
        },
        body: operation(vault, cert, p),
      };
    }),
  );
  r.on(
    "POST",
    "/certificates/:name/import",
    h("certificates/import/action", "certificates", (req, vault) => {
      const cert = model.importCertificate(vault, req.params.name!, asObject(req.body));
      return ok(bundle(vault, cert, cert.versions.at(-1)!));
    }),
  );
  r.on(
    "GET",
    "/certificates/:name/pending",
    h("certificates/read", "certificates", (req, vault) => {
      const cert = model.certificate(vault, req.params.name!);
      return cert?.pending
        ? ok(operation(vault, cert, cert.pending))
        : errors.pendingNotFound(req.params.name!);
    }),
  );
  r.on(
    "PATCH",
    "/certificates/:name/pending",
    h("certificates/update/action", "certificates", (req, vault) => {
      if (asObject(req.body).cancellation_requested !== true)
        return errors.badParameter("Property cancellation_requested must be true.");
      const p = model.cancelPending(vault, req.params.name!);
      return ok(operation(vault, model.certificate(vault, req.params.name!)!, p));
    }),
  );
  r.on(
    "DELETE",
    "/certificates/:name/pending",
    h("certificates/delete", "certificates", (req, vault) => {
      const cert = model.certificate(vault, req.params.name!);
      const p = model.deletePending(vault, req.params.name!);
      return ok(
        operation(
          vault,
          cert ?? {
            name: req.params.name!,
            policy: completePolicy(undefined, ctx.clock.now()),
            versions: [],
          },
          p,
        ),
      );
    }),
  );
  r.on(
    "POST",
    "/certificates/:name/pending/merge",
    h("certificates/create/action", "certificates", (req, vault) => {
      const cert = model.mergeCertificate(vault, req.params.name!, asObject(req.body));
      return ok(bundle(vault, cert, cert.versions.at(-1)!), 201);
    }),
  );
  r.on(
    "GET",
    "/certificates/:name/policy",
    h("certificates/read", "certificates", (req, vault) =>
      ok(policyJson(vault, findCert(vault, req.params.name!))),
    ),
  );
  r.on(
    "PATCH",
    "/certificates/:name/policy",
    h("certificates/update/action", "certificates", (req, vault) => {
      model.updatePolicy(vault, req.params.name!, asObject(req.body) as Partial<WirePolicy>);
      return ok(policyJson(vault, findCert(vault, req.params.name!)));
    }),
  );
  r.on(
    "GET",
    "/certificates/:name/versions",
    h("certificates/read", "certificates", (req, vault) => {
      const cert = findCert(vault, req.params.name!);
      return page(
        req,
        cert.versions.map((v) => ({
          id: `${base(vault)}/certificates/${cert.name}/${v.version}`,
          x5t: model.info(vault, cert, v).x5t,
          attributes: attributes(v, cert.policy),
          ...(v.tags ? { tags: v.tags } : {}),
        })),
      );
    }),
  );
  const getCert = h("certificates/read", "certificates", (req, vault) => {
    const cert = findCert(vault, req.params.name!);
    if (!req.params.version && cert.versions.length === 0 && cert.pending)
      return ok(pendingBundle(vault, cert, cert.pending));
    return ok(bundle(vault, cert, findVersion(cert, req.params.version || undefined)));
  });
  r.on("GET", "/certificates/:name", getCert);
  r.on("GET", "/certificates/:name/:version", getCert);
  const updateCert = h("certificates/update/action", "certificates", (req, vault) => {
    const { cert, version } = model.updateProperties(
      vault,
      req.params.name!,
      req.params.version || undefined,
      asObject(req.body),
    );
    return ok(bundle(vault, cert, version));
  });
  r.on("PATCH", "/certificates/:name", updateCert);
  r.on("PATCH", "/certificates/:name/:version", updateCert);
  r.on(
    "DELETE",
    "/certificates/:name",
    h("certificates/delete", "certificates", (req, vault) =>
      ok(deletedBundle(vault, model.deleteCertificate(vault, req.params.name!))),
    ),
  );

  // -- deleted certificates --
  r.on(
    "GET",
    "/deletedcertificates",
    h("certificates/read", "certificates", (req, vault) =>
      page(
        req,
        Object.values(model.vault(vault)!.deleted).map((d) => {
          const full = deletedBundle(vault, d);
          return {
            id: `${base(vault)}/certificates/${d.name}`,
            recoveryId: full.recoveryId,
            deletedDate: full.deletedDate,
            scheduledPurgeDate: full.scheduledPurgeDate,
            ...("x5t" in full ? { x5t: full.x5t, attributes: full.attributes } : {}),
          };
        }),
      ),
    ),
  );
  r.on(
    "GET",
    "/deletedcertificates/:name",
    h("certificates/read", "certificates", (req, vault) => {
      const d = model.vault(vault)!.deleted[req.params.name!.toLowerCase()];
      return d ? ok(deletedBundle(vault, d)) : errors.deletedNotFound(req.params.name!);
    }),
  );
  r.on(
    "DELETE",
    "/deletedcertificates/:name",
    h("certificates/purge/action", "certificates", (req, vault) => {
      model.purgeDeleted(vault, req.params.name!);
      return { status: 204 };
    }),
  );
  r.on(
    "POST",
    "/deletedcertificates/:name/recover",
    h("certificates/recover/action", "certificates", (req, vault) => {
      const cert = model.recoverDeleted(vault, req.params.name!);
      const latest = cert.versions.at(-1);
      return latest ? ok(bundle(vault, cert, latest)) : errors.certificateNotFound(cert.name);
    }),
  );

  // -- secrets (the certificates' managed secrets) --
  const secretAttributes = (cert: StoredCertificate, v: StoredVersion) => ({
    ...attributes(v, cert.policy),
  });
  const findSecret = (vault: string, name: string) => {
    const cert = model.certificate(vault, name);
    if (!cert || cert.versions.length === 0)
      throw new KeyVaultError(404, "SecretNotFound", errorMessage(errors.secretNotFound(name)));
    return cert;
  };
  r.on(
    "GET",
    "/secrets",
    h("secrets/readMetadata/action", "secrets", (req, vault) =>
      page(
        req,
        Object.values(model.vault(vault)!.certificates)
          .filter((c) => c.versions.length > 0)
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((c) => {
            const v = c.versions.at(-1)!;
            return {
              id: `${base(vault)}/secrets/${c.name}`,
              attributes: secretAttributes(c, v),
              contentType: v.contentType,
              managed: true,
              ...(c.tags ? { tags: c.tags } : {}),
            };
          }),
      ),
    ),
  );
  r.on(
    "GET",
    "/secrets/:name/versions",
    h("secrets/readMetadata/action", "secrets", (req, vault) => {
      const cert = findSecret(vault, req.params.name!);
      return page(
        req,
        cert.versions.map((v) => ({
          id: `${base(vault)}/secrets/${cert.name}/${v.version}`,
          attributes: secretAttributes(cert, v),
          contentType: v.contentType,
          managed: true,
          ...(v.tags ? { tags: v.tags } : {}),
        })),
      );
    }),
  );
  const getSecret = h("secrets/getSecret/action", "secrets", (req, vault) => {
    const cert = findSecret(vault, req.params.name!);
    const version = req.params.version || undefined;
    const v = version ? cert.versions.find((x) => x.version === version) : cert.versions.at(-1);
    if (!v)
      return kvError(
        404,
        "SecretNotFound",
        `A secret with (name/id) ${cert.name}/${version} was not found in this key vault.`,
      );
    if (!v.enabled)
      return kvError(
        403,
        "Forbidden",
        `Operation get is not allowed on a disabled secret.`,
        "SecretDisabled",
      );
    return ok({
      value: model.secretValue(v),
      contentType: v.contentType,
      id: `${base(vault)}/secrets/${cert.name}/${v.version}`,
      attributes: secretAttributes(cert, v),
      ...((v.tags ?? cert.tags) ? { tags: v.tags ?? cert.tags } : {}),
      kid: `${base(vault)}/keys/${cert.name}/${v.version}`,
      managed: true,
    });
  });
  r.on("GET", "/secrets/:name", getSecret);
  r.on("GET", "/secrets/:name/:version", getSecret);
}

function asObject(body: unknown): Record<string, unknown> {
  return typeof body === "object" && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : {};
}

function errorMessage(res: LabResponse): string {
  return (res.body as { error: { message: string } }).error.message;
}
