/**
 * `Microsoft.ApiManagement/service`: get, PUT (create or replace) and PATCH (RFC 7396 merge patch
 * inside `properties`: an array in the body replaces the whole array, so `hostnameConfigurations`
 * sent without the built-in `*.azure-api.net` entry removes it, exactly as in Azure).
 *
 * An infrastructure change (host names, CA certificates, sku, virtual network, regions) is an LRO:
 * 202 with `Location` and `Azure-AsyncOperation` (`…/service/{name}/operationresults/{id}`), the
 * service `Updating` for `apimUpdateMs`, then `Succeeded` and the gateway serves the new host names
 * (Key Vault secrets are fetched when the update is applied; versionless ids take the current
 * version then). A second infrastructure change while one runs is refused with 409 Conflict or 429
 * RetryableErrorDueToAnotherOperation (`apimConflict` setting). Other changes (tags, customProperties,
 * publisher fields) are a synchronous 200.
 *
 * If-Match (PUT or PATCH of an existing service) is honoured as ARM does for resources with an ETag:
 * `*` or the current ETag proceeds, anything else is 412 PreconditionFailed (ARM's error body) and
 * nothing changes; every update (and its completion) changes the ETag.
 *
 * The status resource (`?asyncResponse`) answers 200 `{status, error}`; the `Location` URL answers
 * 202 while running and 200 with the service once done (the SDK's final GET).
 *
 * Faults (service "arm"): `lroFailed` on a PUT/PATCH makes the update end Failed (the service keeps
 * its previous configuration); `apimStuck` keeps every update that starts while the rule exists
 * `Updating` until the rule is removed.
 */
import type { LabRequest, LabResponse, Router } from "../../core/http.js";

import { key } from "../core/ids.js";
import { isObject, mergePatch } from "../core/mergePatch.js";
import { actionFor, type ArmPipeline } from "../core/pipeline.js";
import { retryAfter, statusResource } from "../core/responses.js";
import { checkScope, isResponse, requestScope } from "../core/scope.js";
import type { ApimServiceState, AppliedHostname, OperationState } from "../core/state.js";
import { textOf } from "../../core/text.js";
import type { ArmWorld } from "../core/world.js";
import { lroFailure } from "../cdn/frontDoor.js";
import { armError } from "../core/errors.js";
import {
  APIM,
  SERVICE_PATH,
  apimError,
  apimPrincipal,
  etagOf,
  findService,
  resolveSecretUrl,
  serviceId,
} from "./apim.js";

const TYPE = "Microsoft.ApiManagement/service";
const HOSTNAME_TYPES = ["Proxy", "Portal", "Management", "Scm", "DeveloperPortal", "ConfigurationApi"];
/** Properties whose change is an infrastructure update. */
const INFRA = [
  "hostnameConfigurations",
  "certificates",
  "virtualNetworkConfiguration",
  "virtualNetworkType",
  "additionalLocations",
  "publicIpAddressId",
];
/** Properties only the service sets. */
const READ_ONLY = [
  "provisioningState",
  "targetProvisioningState",
  "createdAtUtc",
  "gatewayUrl",
  "gatewayRegionalUrl",
  "portalUrl",
  "developerPortalUrl",
  "managementApiUrl",
  "scmUrl",
  "publicIPAddresses",
  "privateIPAddresses",
  "platformVersion",
];

export function serviceJson(world: ArmWorld, s: ApimServiceState): Record<string, unknown> {
  return {
    id: serviceId(world, s.name),
    name: s.name,
    type: TYPE,
    tags: s.tags,
    location: s.location,
    etag: etagOf(s.etag),
    properties: {
      ...s.properties,
      provisioningState: s.provisioningState,
      targetProvisioningState: s.provisioningState === "Updating" ? "Succeeded" : "",
    },
    sku: s.sku,
    identity: s.identity,
  };
}

const okService = (world: ArmWorld, s: ApimServiceState, status = 200): LabResponse => ({
  status,
  headers: { etag: `"${etagOf(s.etag)}"` },
  body: serviceJson(world, s),
});

export function registerApimService(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
  const route = {
    namespace: APIM,
    scope: requestScope,
    action: (r: LabRequest) => actionFor(r.method, TYPE),
  };
  router.on(
    "GET",
    SERVICE_PATH,
    pipeline.wrap(route, (req) =>
      world.exclusive(() => {
        const s = findService(world, req);
        return isResponse(s) ? s : okService(world, s);
      }),
    ),
  );
  router.on(
    ["PUT", "PATCH"],
    SERVICE_PATH,
    pipeline.wrap(route, (req) => world.exclusive(() => write(world, req))),
  );
  router.on(
    "GET",
    `${SERVICE_PATH}/operationresults/:id`,
    pipeline.wrap(
      {
        namespace: APIM,
        scope: (req) => world.operation(req.params.id!)?.resourceId ?? requestScope(req),
        action: () => "Microsoft.ApiManagement/service/operationresults/read",
      },
      (req) =>
        world.exclusive(() => {
          const scoped = checkScope(world, req);
          if (scoped) return scoped;
          if (req.query.has("asyncResponse")) return statusResource(world, req.params.id!);
          const op = world.operation(req.params.id!);
          if (!op)
            return apimError(404, "ResourceNotFound", `The operation '${req.params.id}' was not found.`);
          if (op.status === "InProgress") {
            return { status: 202, headers: { location: req.url.toString(), ...retryAfter(world) } };
          }
          if (op.status === "Failed") {
            return apimError(400, op.error?.code ?? "Failed", op.error?.message ?? "The operation failed.");
          }
          const s = world.state.apim[key(req.params.service!)];
          return s ? okService(world, s) : { status: 204 };
        }),
    ),
  );
}

async function write(world: ArmWorld, req: LabRequest): Promise<LabResponse> {
  const scoped = checkScope(world, req);
  if (scoped) return scoped;
  const body = req.body;
  if (!isObject(body))
    return apimError(400, "InvalidRequestContent", "The request content is not a JSON object.");
  const props = body.properties === undefined ? {} : body.properties;
  if (!isObject(props)) return apimError(400, "InvalidRequestContent", "'properties' must be an object.");
  const userProps = Object.fromEntries(Object.entries(props).filter(([k]) => !READ_ONLY.includes(k)));

  let service = world.state.apim[key(req.params.service!)];
  const creating = !service;
  if (service && ifMatchStale(req, service.etag)) {
    return armError(
      412,
      "PreconditionFailed",
      `The If-Match header does not match the current ETag of the API Management service '${service.name}'; it was modified since you read it.`,
    );
  }
  if (!service) {
    if (req.method === "PATCH") return findService(world, req) as LabResponse;
    const invalid = validateCreate(body, userProps);
    if (invalid) return invalid;
    service = newService(world, req.params.service!, body);
  }

  // 1. The desired properties: PUT replaces them, PATCH merges (arrays replaced whole).
  const base = Object.fromEntries(Object.entries(service.properties).filter(([k]) => READ_ONLY.includes(k)));
  const desired = (
    req.method === "PUT" ? { ...base, ...userProps } : mergePatch(service.properties, userProps)
  ) as Record<string, unknown>;
  if (Array.isArray(desired.hostnameConfigurations)) {
    const checked = await normaliseHostnames(world, service, desired.hostnameConfigurations);
    if (isResponse(checked)) return checked;
    desired.hostnameConfigurations = checked;
  }
  const sku = isObject(body.sku) ? { ...service.sku, ...(body.sku as object) } : service.sku;
  const infra =
    creating ||
    JSON.stringify(sku) !== JSON.stringify(service.sku) ||
    INFRA.some(
      (k) =>
        JSON.stringify(comparable(k, desired[k])) !== JSON.stringify(comparable(k, service.properties[k])),
    );

  // 2. A second infrastructure update while one runs is refused.
  if (infra && service.operationId) {
    const { status, retryAfterSeconds } = world.settings.apimConflict;
    const headers = retryAfterSeconds > 0 ? { "retry-after": String(retryAfterSeconds) } : undefined;
    return status === 429
      ? apimError(
          429,
          "RetryableErrorDueToAnotherOperation",
          `Operation on the API Management service '${service.name}' cannot be performed because another operation is in progress on it. Retry after the operation completes.`,
          headers,
        )
      : apimError(
          409,
          "Conflict",
          `The API Management service '${service.name}' is being updated by another operation (infrastructure changes such as custom domains cannot be made while the service is updating). Retry after the update completes.`,
          headers,
        );
  }

  // 3. Tags, identity and non-infrastructure properties apply at once.
  if (isObject(body.tags)) service.tags = body.tags as Record<string, string>;
  if (isObject(body.identity)) service.identity = { ...service.identity, ...(body.identity as object) };
  world.state.apim[key(service.name)] = service;
  if (!infra) {
    service.properties = desired;
    service.etag++;
    return okService(world, service);
  }

  // 4. An infrastructure update: an LRO; the gateway keeps its configuration until it completes.
  service.previousProperties = creating ? undefined : service.properties;
  service.properties = desired;
  service.sku = sku;
  service.provisioningState = "Updating";
  service.etag++;
  const id = serviceId(world, service.name);
  const op = world.startOperation("apimUpdate", id, world.settings.apimUpdateMs, {
    failWith: lroFailure(world, req),
    stuck: world.faultActive("apimStuck"),
  });
  service.operationId = op.id;
  const version = req.query.get("api-version") ?? "2024-05-01";
  const opUrl = `${world.armUrl}${id}/operationresults/${op.id}?api-version=${version}`;
  return {
    status: creating ? 201 : 202,
    headers: { location: opUrl, "azure-asyncoperation": `${opUrl}&asyncResponse`, ...retryAfter(world) },
    body: creating ? serviceJson(world, service) : undefined,
  };
}

/** Whether an If-Match header was sent and names neither `*` nor the current ETag. */
function ifMatchStale(req: LabRequest, etag: number): boolean {
  const header = req.headers["if-match"];
  if (header === undefined || header === "") return false;
  const tags = String(header)
    .split(",")
    .map((t) => t.trim().replace(/^W\//, "").replace(/^"|"$/g, ""));
  return !tags.includes("*") && !tags.includes(etagOf(etag));
}

/** Host name entries compare without the fields the service computes. */
function comparable(k: string, v: unknown): unknown {
  if (k !== "hostnameConfigurations" || !Array.isArray(v)) return v ?? null;
  return v.map((h: Record<string, unknown>) => ({
    type: h.type,
    hostName: String(h.hostName).toLowerCase(),
    keyVaultId: h.keyVaultId ?? null,
    identityClientId: h.identityClientId ?? null,
    negotiateClientCertificate: h.negotiateClientCertificate ?? false,
    defaultSslBinding: h.defaultSslBinding ?? false,
    certificateSource: h.certificateSource ?? null,
  }));
}

/** Validates host names and fills `certificateSource` and `certificate` from Key Vault. */
async function normaliseHostnames(
  world: ArmWorld,
  service: ApimServiceState,
  entries: unknown[],
): Promise<Record<string, unknown>[] | LabResponse> {
  const out: Record<string, unknown>[] = [];
  for (const raw of entries) {
    if (!isObject(raw) || typeof raw.hostName !== "string" || typeof raw.type !== "string") {
      return apimError(400, "ValidationError", "Each hostname configuration requires 'type' and 'hostName'.");
    }
    if (!HOSTNAME_TYPES.includes(raw.type)) {
      return apimError(400, "ValidationError", `Hostname type '${raw.type}' is not valid.`);
    }
    const h: Record<string, unknown> = {
      type: raw.type,
      hostName: raw.hostName,
      negotiateClientCertificate: raw.negotiateClientCertificate === true,
      defaultSslBinding: raw.defaultSslBinding === true,
    };
    if (raw.encodedCertificate !== undefined && raw.encodedCertificate !== null) {
      return apimError(
        400,
        "ValidationError",
        "The lab supports Key Vault (keyVaultId) and built-in host name certificates only, not encodedCertificate.",
      );
    }
    if (typeof raw.keyVaultId === "string" && raw.keyVaultId) {
      const found = await resolveSecretUrl(world, raw.keyVaultId);
      const principal = apimPrincipal(
        world,
        service,
        typeof raw.identityClientId === "string" ? raw.identityClientId : undefined,
      );
      const readable = found && world.kv.canRead(principal, found.ref.vaultName, found.ref.secretName);
      if (!found || !readable || (world.kv.available && !found.resolved)) {
        return apimError(
          400,
          "InvalidParameters",
          `Invalid parameter: Failed to access KeyVault Secret ${raw.keyVaultId} using Managed Service Identity of Api Management service. Check if Managed Identity of Api Management service has GET permissions on secrets in the KeyVault.`,
        );
      }
      h.keyVaultId = raw.keyVaultId;
      if (typeof raw.identityClientId === "string") h.identityClientId = raw.identityClientId;
      h.certificateSource = "KeyVault";
      h.certificateStatus = "Completed";
      const facts = found.resolved?.certificate;
      if (facts)
        h.certificate = { expiry: facts.notAfter, thumbprint: facts.thumbprint, subject: facts.subject };
    } else if (raw.certificateSource === "BuiltIn" || /\.azure-api\.net$/i.test(raw.hostName)) {
      h.certificateSource = "BuiltIn";
    } else if (raw.certificateSource === "Managed") {
      h.certificateSource = "Managed";
    } else {
      return apimError(
        400,
        "InvalidParameters",
        `Invalid parameter: Either encodedCertificate or keyVaultId should be provided to retrieve the custom SSL certificate for type: ${raw.type} and hostname : ${raw.hostName}.`,
      );
    }
    out.push(h);
  }
  return out;
}

function validateCreate(
  body: Record<string, unknown>,
  props: Record<string, unknown>,
): LabResponse | undefined {
  if (!isObject(body.sku) || typeof body.location !== "string") {
    return apimError(400, "ValidationError", "'sku' and 'location' are required to create a service.");
  }
  if (typeof props.publisherEmail !== "string" || typeof props.publisherName !== "string") {
    return apimError(400, "ValidationError", "'publisherEmail' and 'publisherName' are required.");
  }
  return undefined;
}

/** A new service with the built-in gateway host name, as APIM creates it. */
export function newService(world: ArmWorld, name: string, body: Record<string, unknown>): ApimServiceState {
  const lower = name.toLowerCase();
  const builtIn = `${lower}.azure-api.net`;
  const props = (body.properties ?? {}) as Record<string, unknown>;
  return {
    name,
    location: textOf(body.location ?? "West Europe"),
    sku: (body.sku as { name: string; capacity: number }) ?? { name: "Developer", capacity: 1 },
    tags: (body.tags as Record<string, string>) ?? {},
    identity: (body.identity as Record<string, unknown>) ?? { type: "None" },
    etag: 1,
    provisioningState: "Succeeded",
    properties: {
      publisherEmail: props.publisherEmail,
      publisherName: props.publisherName,
      notificationSenderEmail: "apimgmt-noreply@mail.windowsazure.com",
      createdAtUtc: world.nowIso(),
      gatewayUrl: `https://${builtIn}`,
      gatewayRegionalUrl: `https://${lower}-westeurope-01.regional.azure-api.net`,
      portalUrl: `https://${lower}.portal.azure-api.net`,
      developerPortalUrl: `https://${lower}.developer.azure-api.net`,
      managementApiUrl: `https://${lower}.management.azure-api.net`,
      scmUrl: `https://${lower}.scm.azure-api.net`,
      hostnameConfigurations: [
        {
          type: "Proxy",
          hostName: builtIn,
          negotiateClientCertificate: false,
          defaultSslBinding: true,
          certificateSource: "BuiltIn",
        },
      ],
      publicIPAddresses: ["20.0.0.10"],
      customProperties: {},
      virtualNetworkType: "None",
      certificates: [],
      disableGateway: false,
      publicNetworkAccess: "Enabled",
      platformVersion: "stv2",
    },
    applied: { hostnames: [], since: world.nowIso() },
    certificates: {},
    backends: {},
  };
}

/** What the gateway serves for host name entries, resolved from Key Vault now. */
export async function applyHostnames(world: ArmWorld, entries: unknown): Promise<AppliedHostname[]> {
  const out: AppliedHostname[] = [];
  for (const h of Array.isArray(entries) ? (entries as Record<string, unknown>[]) : []) {
    const applied: AppliedHostname = {
      type: String(h.type),
      hostName: String(h.hostName),
      certificateSource: textOf(h.certificateSource ?? "BuiltIn"),
      defaultSslBinding: h.defaultSslBinding === true,
      negotiateClientCertificate: h.negotiateClientCertificate === true,
    };
    if (typeof h.keyVaultId === "string") {
      const found = await resolveSecretUrl(world, h.keyVaultId);
      if (found) {
        applied.keyVault = found.ref;
        applied.thumbprint = found.resolved?.certificate?.thumbprint;
        const facts = found.resolved?.certificate;
        if (facts)
          h.certificate = { expiry: facts.notAfter, thumbprint: facts.thumbprint, subject: facts.subject };
      }
    }
    out.push(applied);
  }
  return out;
}

/** Completion of an update: Succeeded applies the host names; Failed restores the previous configuration. */
export function onApimOperation(world: ArmWorld) {
  return async (op: OperationState) => {
    const service = Object.values(world.state.apim).find((s) => s.operationId === op.id);
    if (!service) return;
    service.operationId = undefined;
    service.provisioningState = "Succeeded";
    service.etag++;
    if (op.status !== "Succeeded") {
      if (service.previousProperties) service.properties = service.previousProperties;
      service.previousProperties = undefined;
      return;
    }
    service.previousProperties = undefined;
    service.applied = {
      hostnames: await applyHostnames(world, service.properties.hostnameConfigurations),
      since: world.nowIso(),
    };
    world.changed(serviceId(world, service.name));
  };
}
