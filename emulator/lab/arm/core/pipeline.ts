/**
 * What ARM does before a resource provider sees a request: injected faults, bearer token
 * validation (401 with ARM's codes and `WWW-Authenticate`), the `api-version` check per provider
 * namespace, and Azure RBAC on the resource scope (403 AuthorizationFailed with ARM's message).
 * Handlers are wrapped one by one (the ARM router is shared with other lab services).
 */
import { randomUUID } from "node:crypto";
import type { Handler, LabRequest, LabResponse } from "../../core/http.js";
import { STREAMED } from "../../core/http.js";
import { faultMiddleware } from "../../core/faults.js";
import type { LabContext } from "../../core/lab.js";
import { armError, armErrorShape } from "./errors.js";

/** api-versions the lab accepts, per provider namespace (lower case). */
export const API_VERSIONS: Record<string, string[]> = {
  // @azure/arm-cdn 9.1.0 sends 2024-02-01.
  "microsoft.cdn": [
    "2020-09-01",
    "2021-06-01",
    "2022-05-01-preview",
    "2022-11-01-preview",
    "2023-05-01",
    "2023-07-01-preview",
    "2024-02-01",
    "2024-05-01-preview",
    "2024-06-01-preview",
    "2024-09-01",
    "2025-04-15",
    "2025-06-01",
  ],
  // @azure/arm-apimanagement 10.0.0 sends 2024-05-01.
  "microsoft.apimanagement": [
    "2021-08-01",
    "2022-08-01",
    "2023-03-01-preview",
    "2023-05-01-preview",
    "2023-09-01-preview",
    "2024-05-01",
    "2024-06-01-preview",
  ],
  "microsoft.containerservice": [
    "2023-10-01",
    "2024-01-01",
    "2024-02-01",
    "2024-05-01",
    "2024-07-01",
    "2024-08-01",
    "2024-09-01",
    "2024-10-01",
    "2025-01-01",
    "2025-02-01",
    "2025-03-01",
    "2025-04-01",
    "2025-05-01",
    "2025-06-01",
    "2025-07-01",
  ],
};

/** Token audiences ARM accepts; the lab ARM URL is added at start (SDKs pointed at it ask for `${url}/.default`). */
export const ARM_AUDIENCES = [
  "https://management.azure.com",
  "https://management.azure.com/",
  "https://management.core.windows.net",
  "https://management.core.windows.net/",
];

export interface ArmRoute {
  /** Provider namespace, e.g. `Microsoft.Cdn`, for the api-version check. */
  namespace: string;
  /** The RBAC action of the request, e.g. `Microsoft.Cdn/profiles/secrets/write`. */
  action: (req: LabRequest) => string;
  /** The scope the action is checked on (the resource id), from the request. */
  scope: (req: LabRequest) => string;
}

export class ArmPipeline {
  private readonly audiences: string[];
  private readonly faults;

  constructor(private readonly ctx: LabContext) {
    this.audiences = [...ARM_AUDIENCES, ctx.servers.arm.url, `${ctx.servers.arm.url}/`];
    this.faults = faultMiddleware(ctx.faults, "arm", armErrorShape);
  }

  /** Wraps a resource provider handler with faults, authentication, api-version and RBAC. */
  wrap(route: ArmRoute, handler: Handler): Handler {
    return async (req) => {
      const out = await this.faults(req, async () => {
        const denied = (await this.authenticate(req)) ?? this.checkApiVersion(req, route.namespace);
        if (denied) return denied;
        const forbidden = this.authorize(req, route.scope(req), route.action(req));
        if (forbidden) return forbidden;
        return handler(req);
      });
      if (out === STREAMED) return out;
      return withArmHeaders(out);
    };
  }

  /** 401 unless the request carries a valid ARM token; sets `req.principal`. */
  async authenticate(req: LabRequest): Promise<LabResponse | undefined> {
    const header = req.headers.authorization;
    const check = await this.ctx.auth.verify(header, this.audiences);
    if (check.ok) {
      req.principal = check.principal;
      return undefined;
    }
    const challenge = (description: string) => ({
      "www-authenticate": `Bearer authorization_uri="https://login.microsoftonline.com/${this.ctx.auth.tenantId}", error="invalid_token", error_description="${description}"`,
    });
    switch (check.reason) {
      case "missing":
        return armError(
          401,
          "AuthenticationFailed",
          "Authentication failed. The 'Authorization' header is missing.",
          challenge("The authentication failed because of missing 'Authorization' header."),
        );
      case "malformed":
        return armError(
          401,
          "AuthenticationFailed",
          "Authentication failed. The 'Authorization' header is provided in an invalid format.",
          challenge("The authentication failed because of invalid 'Authorization' header format."),
        );
      case "expired":
        return armError(
          401,
          "ExpiredAuthenticationToken",
          `The access token expiry UTC time is earlier than current UTC time '${this.ctx.clock.now().toISOString()}'.`,
          challenge("The access token has expired."),
        );
      case "audience":
        return armError(
          401,
          "InvalidAuthenticationTokenAudience",
          `The access token has been obtained for wrong audience or resource. It should exactly match with one of the allowed audiences '${this.audiences.join("','")}'.`,
          challenge("The access token has been obtained for wrong audience or resource."),
        );
      default:
        return armError(
          401,
          "InvalidAuthenticationToken",
          "The access token is invalid.",
          challenge("The access token is invalid."),
        );
    }
  }

  checkApiVersion(req: LabRequest, namespace: string): LabResponse | undefined {
    const version = req.query.get("api-version");
    if (!version) {
      return armError(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
      );
    }
    const supported = API_VERSIONS[namespace.toLowerCase()] ?? [];
    if (!/^\d{4}-\d{2}-\d{2}(-preview|-alpha|-beta|-privatepreview)?$/i.test(version)) {
      return armError(
        400,
        "InvalidApiVersionParameter",
        `The api-version '${version}' is invalid. The supported versions are '${supported.join(",")}'.`,
      );
    }
    if (!supported.includes(version.toLowerCase())) {
      const type = resourceTypeOf(req.path, namespace);
      return armError(
        400,
        "NoRegisteredProviderFound",
        `No registered resource provider found for location '${this.ctx.seed.location}' and API version '${version}' for type '${type}'. The supported api-versions are '${supported.join(", ")}'. The supported locations are '${this.ctx.seed.location}, global'.`,
      );
    }
    return undefined;
  }

  /** 403 AuthorizationFailed unless a role assignment grants `action` on `scope`. */
  authorize(req: LabRequest, scope: string, action: string): LabResponse | undefined {
    const principal = req.principal;
    if (!principal) return armError(401, "AuthenticationFailed", "Authentication failed.");
    if (this.ctx.auth.isAllowed(principal.objectId, scope, { action })) return undefined;
    return armError(
      403,
      "AuthorizationFailed",
      `The client '${principal.clientId}' with object id '${principal.objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  }
}

/** The resource type ARM names in its errors: the path segments after the namespace, names dropped. */
function resourceTypeOf(path: string, namespace: string): string {
  const parts = path.split("/").filter(Boolean);
  const i = parts.findIndex((p) => p.toLowerCase() === namespace.toLowerCase());
  if (i < 0) return "unknown";
  return parts
    .slice(i + 1)
    .filter((_, k) => k % 2 === 0)
    .join("/");
}

function withArmHeaders(out: LabResponse): LabResponse {
  const id = randomUUID();
  return {
    ...out,
    headers: {
      "x-ms-request-id": id,
      "x-ms-correlation-request-id": id,
      "x-ms-routing-request-id": `WESTEUROPE:${id}`,
      "cache-control": "no-cache",
      ...(out.headers ?? {}),
    },
  };
}

/** RBAC action of a request on an ARM resource type: read, write, delete, or a POST action. */
export function actionFor(method: string, resourceType: string, postAction?: string): string {
  if (method === "GET" || method === "HEAD") return `${resourceType}/read`;
  if (method === "DELETE") return `${resourceType}/delete`;
  if (method === "POST") return `${resourceType}/${postAction ?? "action"}/action`;
  return `${resourceType}/write`;
}
