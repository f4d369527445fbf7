/**
 * `Microsoft.Cdn/profiles/secrets` (Front Door Standard/Premium): get, list (nextLink), create or
 * replace by PUT (an LRO with `Azure-AsyncOperation`), delete. There is no PATCH, as in the real API
 * (405). Read-only parameters (subject, thumbprint, expirationDate, certificateAuthority, SANs) are
 * filled from the Key Vault certificate version. When a write completes, every custom domain that
 * uses the secret deploys the new version.
 */
import type { LabRequest, LabResponse, Router } from "../../core/http.js";
import { badRequest, methodNotAllowed } from "../core/errors.js";
import { key, parseKeyVaultSecretArmId } from "../core/ids.js";
import type { ArmPipeline } from "../core/pipeline.js";
import { retryAfter } from "../core/responses.js";
import type { ProfileState, SecretState } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";
import { profileHandler, registerChildReads, type ProfileHandler } from "./childResources.js";
import { PROFILE_PATH, lroFailure, profileId, startDeployment } from "./frontDoor.js";

const TYPE = "Microsoft.Cdn/profiles/secrets";

export function secretJson(
  world: ArmWorld,
  profile: ProfileState,
  secret: SecretState,
): Record<string, unknown> {
  return {
    id: `${profileId(world, profile.name)}/secrets/${secret.name}`,
    name: secret.name,
    type: TYPE,
    properties: {
      parameters: secret.parameters,
      provisioningState: secret.provisioningState,
      deploymentStatus: secret.deploymentStatus,
      profileName: profile.name,
    },
  };
}

export function registerSecrets(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
  const wrap = (handler: ProfileHandler) => profileHandler(pipeline, world, TYPE, handler);
  registerChildReads<SecretState>(router, pipeline, world, {
    type: TYPE,
    path: `${PROFILE_PATH}/secrets`,
    param: "name",
    notFoundType: "secrets",
    collection: (_req, profile) => ({
      items: profile.secrets,
      json: (secret) => secretJson(world, profile, secret),
    }),
  });
  router.on(
    "PUT",
    `${PROFILE_PATH}/secrets/:name`,
    wrap((req, profile) => putSecret(world, req, profile)),
  );
  router.on(
    "DELETE",
    `${PROFILE_PATH}/secrets/:name`,
    wrap((req, profile) => {
      const secret = profile.secrets[key(req.params.name!)];
      if (!secret) return { status: 204 };
      const user = Object.values(profile.customDomains).find((d) =>
        String((d.properties.tlsSettings as { secret?: { id?: string } } | undefined)?.secret?.id ?? "")
          .toLowerCase()
          .endsWith(`/secrets/${secret.name.toLowerCase()}`),
      );
      if (user) {
        return badRequest(
          "BadRequest",
          `The secret '${secret.name}' is used by custom domain '${user.name}' and cannot be deleted.`,
        );
      }
      delete profile.secrets[key(secret.name)];
      return { status: 200 };
    }),
  );
  router.on(["PATCH", "POST"], `${PROFILE_PATH}/secrets/:name`, (req) => methodNotAllowed(req.method));
}

async function putSecret(world: ArmWorld, req: LabRequest, profile: ProfileState): Promise<LabResponse> {
  const name = req.params.name!;
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,258}[a-zA-Z0-9])?$/.test(name)) {
    return badRequest("BadRequest", `The secret name '${name}' is invalid.`);
  }
  const body = req.body as { properties?: { parameters?: Record<string, unknown> } } | undefined;
  const parameters = body?.properties?.parameters;
  if (!parameters || typeof parameters.type !== "string") {
    return badRequest("BadRequest", "The request must contain properties.parameters with a type.");
  }
  if (parameters.type !== "CustomerCertificate") {
    return badRequest(
      "BadRequest",
      `The lab supports secrets of type 'CustomerCertificate' only; got '${parameters.type}'.`,
    );
  }
  const sourceId = (parameters.secretSource as { id?: unknown } | undefined)?.id;
  const parsed = typeof sourceId === "string" ? parseKeyVaultSecretArmId(sourceId) : undefined;
  if (!parsed || typeof sourceId !== "string") {
    return badRequest(
      "BadRequest",
      `The secretSource id '${String(sourceId)}' is not the resource id of a Key Vault secret.`,
    );
  }
  const frontDoorIdentity = world.ctx.seed.identities.frontDoor.objectId;
  if (!world.kv.canRead(frontDoorIdentity, parsed.vaultName, parsed.secretName)) {
    return badRequest(
      "BadRequest",
      `Front Door cannot read the Key Vault secret '${parsed.secretName}' in vault '${parsed.vaultName}': its identity needs Get on secrets (Key Vault Secrets User).`,
    );
  }
  const useLatestVersion = parameters.useLatestVersion === true;
  const pinned =
    typeof parameters.secretVersion === "string" && parameters.secretVersion
      ? parameters.secretVersion
      : undefined;
  const resolved = await world.kv.resolve({
    vaultName: parsed.vaultName,
    secretName: parsed.secretName,
    version: useLatestVersion ? undefined : pinned,
  });
  if (world.kv.available && !resolved) {
    return badRequest(
      "BadRequest",
      `The certificate '${parsed.secretName}'${pinned ? ` version '${pinned}'` : ""} could not be found in Key Vault '${parsed.vaultName}', or Front Door has no access to it.`,
    );
  }
  const facts = resolved?.certificate;
  const stored: Record<string, unknown> = {
    type: "CustomerCertificate",
    secretSource: { id: sourceId },
    secretVersion: useLatestVersion
      ? (resolved?.version ?? pinned ?? null)
      : (pinned ?? resolved?.version ?? null),
    useLatestVersion,
    subjectAlternativeNames: Array.isArray(parameters.subjectAlternativeNames)
      ? parameters.subjectAlternativeNames
      : (facts?.subjectAlternativeNames ?? []),
  };
  if (facts) {
    stored.subject = /CN=([^,]+)/.exec(facts.subject)?.[1] ?? facts.subject;
    stored.certificateAuthority = /CN=([^,]+)/.exec(facts.issuer)?.[1] ?? facts.issuer;
    stored.expirationDate = facts.notAfter;
    stored.thumbprint = facts.thumbprint;
  }
  const existing = profile.secrets[key(name)];
  const secret: SecretState = {
    name: existing?.name ?? name,
    parameters: stored,
    provisioningState: existing ? "Updating" : "Creating",
    deploymentStatus: "NotStarted",
  };
  profile.secrets[key(name)] = secret;
  const id = `${profileId(world, profile.name)}/secrets/${secret.name}`;
  const op = world.startOperation("afdSecret", id, world.settings.frontDoorOperationMs, {
    failWith: lroFailure(world, req),
  });
  return {
    status: existing ? 200 : 201,
    headers: {
      "azure-asyncoperation": cdnOperationUrl(world, op.id, req),
      ...retryAfter(world),
    },
    body: secretJson(world, profile, secret),
  };
}

/** `…/resourcegroups/{rg}/providers/Microsoft.Cdn/operationresults/{id}?api-version=…`, as Front Door sends it. */
export function cdnOperationUrl(world: ArmWorld, id: string, req: LabRequest): string {
  const version = req.query.get("api-version") ?? "2024-02-01";
  return `${world.armUrl}/subscriptions/${world.subscriptionId}/resourcegroups/${world.resourceGroup}/providers/Microsoft.Cdn/operationresults/${id}?api-version=${version}`;
}

/** Completion of a secret write: the secret is usable, and domains that use it deploy it. */
export function onSecretOperation(world: ArmWorld) {
  return async (op: { resourceId: string; status: string }) => {
    const m = /\/profiles\/([^/]+)\/secrets\/([^/]+)$/i.exec(op.resourceId);
    const profile = m ? world.state.profiles[key(m[1]!)] : undefined;
    const secret = profile && m ? profile.secrets[key(m[2]!)] : undefined;
    if (!profile || !secret) return;
    if (op.status !== "Succeeded") {
      secret.provisioningState = "Failed";
      return;
    }
    secret.provisioningState = "Succeeded";
    for (const domain of Object.values(profile.customDomains)) {
      const ref =
        (domain.properties.tlsSettings as { secret?: { id?: string } } | undefined)?.secret?.id ?? "";
      if (ref.toLowerCase().endsWith(`/secrets/${secret.name.toLowerCase()}`)) {
        await startDeployment(world, profile, domain);
      }
    }
  };
}
