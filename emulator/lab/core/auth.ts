/**
 * Lab identity: signed JWTs per audience, their validation, and Azure RBAC role assignments
 * (built-in role names, action patterns, scopes) so least privilege can be tested.
 *
 * Tokens live on real time, not the lab clock: token caches in the SDKs (MSAL's managed-identity
 * cache is process-wide) judge expiry by real time, so a lab-clock jump must not invalidate tokens
 * they still hold. Expired-token tests mint one with a negative lifetime (POST /lab/tokens).
 */
import {
  generateKeyPairSync,
  randomUUID,
  type KeyObject,
  createPrivateKey,
  createPublicKey,
} from "node:crypto";
import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import type { Principal } from "./http.js";

export interface LabIdentity {
  name: string;
  clientId: string;
  objectId: string;
}

export interface RoleAssignment {
  id: string;
  principalId: string;
  roleName: string;
  /** ARM scope: /subscriptions/…, …/resourceGroups/…, a resource id, or a Kubernetes namespace scope `<clusterId>/namespaces/<ns>`. */
  scope: string;
}

/** Built-in roles the lab knows: `actions` (control plane) and `dataActions` (data plane), with `*` wildcards. */
export const BUILT_IN_ROLES: Record<string, { actions: string[]; dataActions: string[] }> = {
  Owner: { actions: ["*"], dataActions: [] },
  Contributor: { actions: ["*"], dataActions: [] },
  Reader: { actions: ["*/read"], dataActions: [] },
  "Key Vault Administrator": {
    actions: ["Microsoft.KeyVault/*/read"],
    dataActions: ["Microsoft.KeyVault/vaults/*"],
  },
  "Key Vault Certificates Officer": {
    actions: ["Microsoft.KeyVault/*/read"],
    dataActions: [
      "Microsoft.KeyVault/vaults/certificatecas/*",
      "Microsoft.KeyVault/vaults/certificates/*",
      "Microsoft.KeyVault/vaults/certificatecontacts/write",
    ],
  },
  "Key Vault Certificate User": {
    actions: [],
    dataActions: [
      "Microsoft.KeyVault/vaults/certificates/read",
      "Microsoft.KeyVault/vaults/secrets/getSecret/action",
      "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
      "Microsoft.KeyVault/vaults/keys/read",
    ],
  },
  "Key Vault Secrets User": {
    actions: [],
    dataActions: [
      "Microsoft.KeyVault/vaults/secrets/getSecret/action",
      "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    ],
  },
  "Key Vault Secrets Officer": {
    actions: ["Microsoft.KeyVault/*/read"],
    dataActions: ["Microsoft.KeyVault/vaults/secrets/*"],
  },
  "CDN Profile Contributor": { actions: ["Microsoft.Cdn/*", "Microsoft.Resources/*/read"], dataActions: [] },
  "API Management Service Contributor": {
    actions: ["Microsoft.ApiManagement/service/*", "Microsoft.Resources/*/read"],
    dataActions: [],
  },
  "Azure Kubernetes Service Cluster User Role": {
    actions: [
      "Microsoft.ContainerService/managedClusters/read",
      "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
    ],
    dataActions: [],
  },
  "Azure Kubernetes Service RBAC Reader": {
    actions: [],
    dataActions: ["Microsoft.ContainerService/managedClusters/*/read"],
  },
  "Azure Kubernetes Service RBAC Writer": {
    actions: [],
    dataActions: ["Microsoft.ContainerService/managedClusters/*"],
  },
  "Azure Kubernetes Service RBAC Cluster Admin": {
    actions: [],
    dataActions: ["Microsoft.ContainerService/managedClusters/*"],
  },
  "EventGrid Data Sender": { actions: [], dataActions: ["Microsoft.EventGrid/topics/events/send/action"] },
};

const wildcard = (pattern: string) =>
  new RegExp(
    `^${pattern
      .split("*")
      .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
      .join(".*")}$`,
    "i",
  );

/** True when `scope` is `assignmentScope` or lies under it (ARM ids are case-insensitive). */
export function scopeContains(assignmentScope: string, scope: string): boolean {
  const a = assignmentScope.replace(/\/+$/, "").toLowerCase();
  const s = scope.replace(/\/+$/, "").toLowerCase();
  return a === "" || a === "/" || s === a || s.startsWith(`${a}/`);
}

export type TokenCheck =
  | { ok: true; principal: Principal }
  | { ok: false; reason: "missing" | "malformed" | "expired" | "audience" | "signature"; message: string };

export interface AuthState {
  tenantId: string;
  identities: LabIdentity[];
  assignments: RoleAssignment[];
  /** PKCS#8 PEM of the token signing key. */
  signingKeyPem: string;
}

export class LabAuth {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(
    private state: AuthState,
    private readonly persist: (state: AuthState) => void,
  ) {
    this.privateKey = createPrivateKey(state.signingKeyPem);
    this.publicKey = createPublicKey(this.privateKey);
  }

  static newState(tenantId: string, identities: LabIdentity[]): AuthState {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    return {
      tenantId,
      identities,
      assignments: [],
      signingKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    };
  }

  get tenantId(): string {
    return this.state.tenantId;
  }

  get issuer(): string {
    return `https://sts.windows.net/${this.state.tenantId}/`;
  }

  identities(): LabIdentity[] {
    return [...this.state.identities];
  }

  /** Finds an identity by client id, object id or name. */
  identity(idOrName: string): LabIdentity | undefined {
    const k = idOrName.toLowerCase();
    return this.state.identities.find(
      (i) => i.clientId.toLowerCase() === k || i.objectId.toLowerCase() === k || i.name.toLowerCase() === k,
    );
  }

  addIdentity(identity: LabIdentity): void {
    if (!this.identity(identity.clientId)) {
      this.state.identities.push(identity);
      this.persist(this.state);
    }
  }

  /** Issues a token for `identity` and `audience` (the resource, without `/.default`). */
  async issueToken(
    identity: LabIdentity,
    audience: string,
    lifetimeSeconds = 3600,
  ): Promise<{ token: string; expiresOn: number }> {
    const now = Math.floor(Date.now() / 1000);
    const expiresOn = now + lifetimeSeconds;
    const token = await new SignJWT({
      oid: identity.objectId,
      appid: identity.clientId,
      azp: identity.clientId,
      tid: this.state.tenantId,
      name: identity.name,
      idtyp: "app",
    })
      .setProtectedHeader({ alg: "ES256", typ: "JWT", kid: "lab" })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setSubject(identity.objectId)
      .setIssuedAt(now)
      .setNotBefore(now - 300)
      .setExpirationTime(expiresOn)
      .setJti(randomUUID())
      .sign(this.privateKey);
    return { token, expiresOn };
  }

  /** Validates an `Authorization: Bearer …` header for one of `audiences`. */
  async verify(authorization: string | undefined, audiences: string[]): Promise<TokenCheck> {
    if (!authorization)
      return { ok: false, reason: "missing", message: "The request has no Authorization header." };
    const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!m)
      return { ok: false, reason: "malformed", message: "The Authorization header is not a Bearer token." };
    try {
      const { payload } = await jwtVerify(m[1]!, this.publicKey, {
        issuer: this.issuer,
      });
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud ?? ""];
      const norm = (a: string) => a.replace(/\/+$/, "").toLowerCase();
      const match = aud.find((a) => audiences.some((w) => norm(w) === norm(a)));
      if (!match) {
        return {
          ok: false,
          reason: "audience",
          message: `The token's audience '${aud.join(",")}' is not valid for this service (expected '${audiences.join("' or '")}').`,
        };
      }
      return {
        ok: true,
        principal: {
          objectId: String(payload.oid),
          clientId: String(payload.appid),
          tenantId: String(payload.tid),
          name: typeof payload.name === "string" ? payload.name : undefined,
          audience: match,
        },
      };
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired)
        return { ok: false, reason: "expired", message: "The token is expired." };
      return { ok: false, reason: "signature", message: `The token is not valid: ${(e as Error).message}.` };
    }
  }

  assignments(): RoleAssignment[] {
    return [...this.state.assignments];
  }

  assign(principalId: string, roleName: string, scope: string): RoleAssignment {
    if (!BUILT_IN_ROLES[roleName]) throw new Error(`The lab does not know the role '${roleName}'.`);
    const existing = this.state.assignments.find(
      (a) =>
        a.principalId === principalId &&
        a.roleName === roleName &&
        a.scope.toLowerCase() === scope.toLowerCase(),
    );
    if (existing) return existing;
    const a: RoleAssignment = { id: randomUUID(), principalId, roleName, scope };
    this.state.assignments.push(a);
    this.persist(this.state);
    return a;
  }

  unassign(filter: { id?: string; principalId?: string; roleName?: string; scope?: string }): number {
    const before = this.state.assignments.length;
    this.state.assignments = this.state.assignments.filter(
      (a) =>
        !(
          (filter.id === undefined || a.id === filter.id) &&
          (filter.principalId === undefined || a.principalId === filter.principalId) &&
          (filter.roleName === undefined || a.roleName === filter.roleName) &&
          (filter.scope === undefined || a.scope.toLowerCase() === filter.scope.toLowerCase())
        ),
    );
    this.persist(this.state);
    return before - this.state.assignments.length;
  }

  /**
   * True when some role assignment of `principalId` whose scope contains `scope` grants `action`
   * (a control-plane action, e.g. "Microsoft.Cdn/profiles/secrets/write") or `dataAction`.
   */
  isAllowed(principalId: string, scope: string, request: { action?: string; dataAction?: string }): boolean {
    return this.state.assignments.some((a) => {
      if (a.principalId !== principalId || !scopeContains(a.scope, scope)) return false;
      const role = BUILT_IN_ROLES[a.roleName];
      if (!role) return false;
      if (request.action && role.actions.some((p) => wildcard(p).test(request.action!))) return true;
      if (request.dataAction && role.dataActions.some((p) => wildcard(p).test(request.dataAction!)))
        return true;
      return false;
    });
  }
}
