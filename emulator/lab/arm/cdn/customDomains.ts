/**
 * `Microsoft.Cdn/profiles/customDomains` (Front Door Standard/Premium): get, list (nextLink), PUT
 * (create or replace) and PATCH (body `AFDDomainUpdateParameters`, merged as JSON merge patch). Both
 * writes are LROs with `Azure-AsyncOperation`; the domain is `Updating` until the operation ends,
 * then its deployment runs (`deploymentStatus` NotStarted → InProgress → Succeeded after
 * `frontDoorDeploymentMs`) and only then does the edge serve the new certificate.
 */
import { randomBytes } from "node:crypto";
import type { LabRequest, LabResponse, Router } from "../../core/http.js";
import { badRequest, methodNotAllowed } from "../core/errors.js";
import { key, lastSegment } from "../core/ids.js";
import { isObject, mergePatch } from "../core/mergePatch.js";
import { textOf } from "../../core/text.js";
import type { ArmPipeline } from "../core/pipeline.js";
import { retryAfter } from "../core/responses.js";
import type { DomainState, OperationState, ProfileState } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";
import { profileHandler, registerChildReads, type ProfileHandler } from "./childResources.js";
import { PROFILE_PATH, childNotFound, lroFailure, profileId, startDeployment } from "./frontDoor.js";
import { cdnOperationUrl } from "./secrets.js";

const TYPE = "Microsoft.Cdn/profiles/customDomains";
const UPDATABLE = ["tlsSettings", "azureDnsZone", "preValidatedCustomDomainResourceId", "extendedProperties"];

export function domainJson(
  world: ArmWorld,
  profile: ProfileState,
  domain: DomainState,
): Record<string, unknown> {
  return {
    id: `${profileId(world, profile.name)}/customdomains/${domain.name}`,
    name: domain.name,
    type: "Microsoft.Cdn/profiles/customdomains",
    properties: {
      profileName: profile.name,
      ...domain.properties,
      validationProperties: {
        validationToken: domain.validationToken,
        expirationDate: new Date(Date.parse(domain.effective.since) + 7 * 86_400_000).toISOString(),
      },
      domainValidationState: domain.domainValidationState,
      provisioningState: domain.provisioningState,
      deploymentStatus: domain.deploymentStatus,
    },
  };
}

export function newDomain(name: string, properties: Record<string, unknown>, since: string): DomainState {
  return {
    name,
    properties,
    provisioningState: "Succeeded",
    deploymentStatus: "NotStarted",
    domainValidationState: "Approved",
    validationToken: randomBytes(16).toString("hex"),
    effective: { since },
  };
}

export function registerCustomDomains(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
  const wrap = (handler: ProfileHandler) => profileHandler(pipeline, world, TYPE, handler);
  registerChildReads<DomainState>(router, pipeline, world, {
    type: TYPE,
    path: `${PROFILE_PATH}/customDomains`,
    param: "name",
    notFoundType: "customDomains",
    collection: (_req, profile) => ({
      items: profile.customDomains,
      json: (domain) => domainJson(world, profile, domain),
    }),
  });
  router.on(
    "PUT",
    `${PROFILE_PATH}/customDomains/:name`,
    wrap((req, profile) => write(world, req, profile, "PUT")),
  );
  router.on(
    "PATCH",
    `${PROFILE_PATH}/customDomains/:name`,
    wrap((req, profile) => write(world, req, profile, "PATCH")),
  );
  router.on("DELETE", `${PROFILE_PATH}/customDomains/:name`, (req) => methodNotAllowed(req.method));
}

function write(
  world: ArmWorld,
  req: LabRequest,
  profile: ProfileState,
  method: "PUT" | "PATCH",
): LabResponse {
  const name = req.params.name!;
  const body = req.body as { properties?: unknown } | undefined;
  if (!isObject(body) || (body.properties !== undefined && !isObject(body.properties))) {
    return badRequest("BadRequest", "The request body must be a JSON object with a 'properties' object.");
  }
  const props = body.properties ?? {};
  const existing = profile.customDomains[key(name)];
  let next: Record<string, unknown>;
  if (method === "PATCH") {
    if (!existing) return childNotFound("customDomains", name);
    const patch = Object.fromEntries(Object.entries(props).filter(([k]) => UPDATABLE.includes(k)));
    next = mergePatch(existing.properties, patch) as Record<string, unknown>;
  } else {
    if (typeof props.hostName !== "string" || !props.hostName) {
      return badRequest("BadRequest", "properties.hostName is required.");
    }
    if (existing && key(String(existing.properties.hostName)) !== key(props.hostName)) {
      return badRequest("BadRequest", "The host name of an existing custom domain cannot be changed.");
    }
    next = Object.fromEntries(Object.entries(props).filter(([k]) => [...UPDATABLE, "hostName"].includes(k)));
  }
  const invalid = validateTls(world, profile, next.tlsSettings);
  if (invalid) return invalid;

  const domain = existing ?? newDomain(name, next, world.nowIso());
  domain.properties = next;
  domain.provisioningState = existing ? "Updating" : "Creating";
  domain.deploymentStatus = "NotStarted";
  domain.deployment = undefined;
  profile.customDomains[key(name)] = domain;
  const id = `${profileId(world, profile.name)}/customDomains/${domain.name}`;
  const op = world.startOperation("afdDomain", id, world.settings.frontDoorOperationMs, {
    failWith: lroFailure(world, req),
  });
  return {
    status: method === "PUT" && !existing ? 201 : 202,
    headers: { "azure-asyncoperation": cdnOperationUrl(world, op.id, req), ...retryAfter(world) },
    body: domainJson(world, profile, domain),
  };
}

function validateTls(world: ArmWorld, profile: ProfileState, tls: unknown): LabResponse | undefined {
  if (tls === undefined) return undefined;
  if (!isObject(tls)) return badRequest("BadRequest", "properties.tlsSettings must be an object.");
  const type = tls.certificateType;
  if (
    type !== undefined &&
    !["CustomerCertificate", "ManagedCertificate", "AzureFirstPartyManagedCertificate"].includes(textOf(type))
  ) {
    return badRequest("BadRequest", `The certificate type '${textOf(type)}' is not valid.`);
  }
  const secretId = (tls.secret as { id?: unknown } | undefined)?.id;
  if (type === "CustomerCertificate" && typeof secretId !== "string") {
    return badRequest(
      "BadRequest",
      "A custom domain with certificate type 'CustomerCertificate' must reference a secret.",
    );
  }
  if (typeof secretId === "string") {
    const prefix = `${profileId(world, profile.name)}/secrets/`.toLowerCase();
    if (!secretId.toLowerCase().startsWith(prefix) || !profile.secrets[key(lastSegment(secretId))]) {
      return badRequest(
        "BadRequest",
        `The secret '${secretId}' does not exist in profile '${profile.name}'.`,
      );
    }
  }
  return undefined;
}

/** Completion of a domain write: Succeeded starts the deployment; Failed leaves the edge as it was. */
export function onDomainOperation(world: ArmWorld) {
  return async (op: OperationState) => {
    const m = /\/profiles\/([^/]+)\/customDomains\/([^/]+)$/i.exec(op.resourceId);
    const profile = m ? world.state.profiles[key(m[1]!)] : undefined;
    const domain = profile && m ? profile.customDomains[key(m[2]!)] : undefined;
    if (!profile || !domain) return;
    if (op.status !== "Succeeded") {
      domain.provisioningState = "Failed";
      domain.deploymentStatus = "Failed";
      return;
    }
    domain.provisioningState = "Succeeded";
    await startDeployment(world, profile, domain);
  };
}
