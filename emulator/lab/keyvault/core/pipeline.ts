/**
 * What Key Vault does before a handler sees a request: its reply headers on every answer, the vault
 * host name, the api-version check, the Bearer challenge (401 + `WWW-Authenticate` for any request
 * without a valid token for https://vault.localhost), injected faults, and Azure RBAC data actions
 * on `<vault id>/<kind>/<name>` (403 Forbidden / ForbiddenByRbac) per route.
 */
import { randomUUID } from "node:crypto";
import { faultMiddleware } from "../../core/faults.js";
import type { Handler, LabRequest, LabResponse, Middleware, Router } from "../../core/http.js";
import type { LabContext } from "../../core/lab.js";
import type { KeyVaultModel } from "../model.js";
import { API_VERSIONS, KEYVAULT_AUDIENCE, VAULT_DOMAIN } from "../wire.js";
import {
  apiVersionMissing,
  apiVersionUnknown,
  forbiddenByRbac,
  isKeyVaultError,
  kvErrorShape,
  unauthorized,
  vaultNotFoundAtHost,
  type KeyVaultError,
} from "./errors.js";

const DATA = "Microsoft.KeyVault/vaults";

/** A Key Vault operation on the request's vault (its stored name). */
export type KeyVaultOperation = (req: LabRequest, vault: string) => Promise<LabResponse> | LabResponse;

/** The object kinds RBAC scopes name under a vault. */
export type ObjectKind = "certificates" | "secrets" | "certificatecas" | "certificatecontacts";

/** The vault a request addresses: the first label of `<vault>.vault.localhost`. */
export function vaultOf(req: LabRequest): string | undefined {
  const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
  if (!host.endsWith(`.${VAULT_DOMAIN}`)) return undefined;
  return host.slice(0, -VAULT_DOMAIN.length - 1).split(".")[0];
}

/** The request body when it is a JSON object, else `{}`. */
export function bodyObject(req: LabRequest): Record<string, unknown> {
  const body = req.body;
  return typeof body === "object" && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : {};
}

/** The Key Vault request pipeline of one lab: middleware for the router and the per-route RBAC wrapper. */
export class KeyVaultPipeline {
  constructor(
    private readonly ctx: LabContext,
    private readonly model: KeyVaultModel,
    private readonly resourceId: (vault: string) => string,
  ) {}

  /** Adds Key Vault's reply headers, authentication and fault injection to `router`, in that order. */
  install(router: Router): void {
    router.use(async (req, next) => {
      const out = await next();
      return typeof out === "symbol" ? out : withKvHeaders(out);
    });
    router.use(authenticate(this.ctx, this.model));
    router.use(faultMiddleware(this.ctx.faults, "keyvault", kvErrorShape));
  }

  /**
   * Wraps an operation with its RBAC data action (e.g. `certificates/read`) on
   * `<vault id>/<kind>/<name>` (the vault itself for routes without a name), and answers the
   * Key Vault errors it throws.
   */
  route(dataAction: string, kind: ObjectKind, op: KeyVaultOperation): Handler {
    return async (req: LabRequest): Promise<LabResponse> => {
      const vault = this.model.vault(vaultOf(req)!)!.name;
      const denied = this.checkAccess(req, vault, dataAction, kind);
      if (denied) return denied.toResponse();
      try {
        return await op(req, vault);
      } catch (e) {
        if (isKeyVaultError(e)) return e.toResponse();
        throw e;
      }
    };
  }

  private checkAccess(
    req: LabRequest,
    vault: string,
    dataAction: string,
    kind: ObjectKind,
  ): KeyVaultError | undefined {
    const name = req.params.name;
    const scope = `${this.resourceId(vault)}${name ? `/${kind}/${name}` : ""}`;
    const principal = req.principal!;
    const action = `${DATA}/${dataAction}`;
    if (this.ctx.auth.isAllowed(principal.objectId, scope, { dataAction: action })) return undefined;
    return forbiddenByRbac({
      clientId: principal.clientId,
      objectId: principal.objectId,
      issuer: this.ctx.auth.issuer,
      action,
      scope,
      vault,
      location: this.ctx.seed.location,
    });
  }
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

/** Host, api-version and token checks; a valid token's principal goes to `req.principal`. */
function authenticate(ctx: LabContext, model: KeyVaultModel): Middleware {
  const challenge = `Bearer authorization="https://login.microsoftonline.com/${ctx.auth.tenantId}", resource="${KEYVAULT_AUDIENCE}"`;
  return async (req, next) => {
    const refused = checkVault(model, req) ?? checkApiVersion(req) ?? (await checkToken(ctx, req, challenge));
    return refused ? refused.toResponse() : next();
  };
}

function checkVault(model: KeyVaultModel, req: LabRequest): KeyVaultError | undefined {
  const vault = vaultOf(req);
  return vault && model.vault(vault) ? undefined : vaultNotFoundAtHost(req.headers.host ?? "");
}

function checkApiVersion(req: LabRequest): KeyVaultError | undefined {
  const apiVersion = req.query.get("api-version");
  if (!apiVersion) return apiVersionMissing();
  return API_VERSIONS.includes(apiVersion) ? undefined : apiVersionUnknown(apiVersion);
}

/** Verifies the Bearer token, answering with the AKV codes Key Vault puts in its 401 messages. */
async function checkToken(
  ctx: LabContext,
  req: LabRequest,
  challenge: string,
): Promise<KeyVaultError | undefined> {
  const header = req.headers.authorization;
  if (!header) return unauthorized(challenge, "AKV10000: Request is missing a Bearer or PoP token.");
  const check = await ctx.auth.verify(header, [KEYVAULT_AUDIENCE]);
  if (check.ok) {
    req.principal = check.principal;
    return undefined;
  }
  switch (check.reason) {
    case "audience": {
      const found = /audience '([^']*)'/.exec(check.message)?.[1] ?? "";
      return unauthorized(
        challenge,
        `AKV10022: Invalid audience. Expected ${KEYVAULT_AUDIENCE}, found: ${found}.`,
      );
    }
    case "expired":
      return unauthorized(challenge, "[TokenExpired] Error validating token: 'S2S12086'.");
    case "signature":
      return unauthorized(challenge, "AKV10046: Unable to resolve the key used for signature validation.");
    default:
      return unauthorized(challenge, "AKV10000: Request is missing a Bearer or PoP token.");
  }
}
