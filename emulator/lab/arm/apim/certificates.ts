/**
 * `Microsoft.ApiManagement/service/certificates` (client certificates for backends): PUT (create;
 * updating an existing entity needs `If-Match` — its ETag or `*` — else 412), GET with `ETag`, HEAD,
 * list, DELETE (`If-Match`), and `refreshSecret` (re-reads Key Vault: a versionless
 * `secretIdentifier` takes the vault's current version; 200 with the entity and its new ETag).
 * Thumbprint, subject and expiry come from the Key Vault certificate version fetched.
 */
import type { LabRequest, LabResponse, Router } from "../../core/http.js";
import { key } from "../core/ids.js";
import { isObject } from "../core/mergePatch.js";
import { actionFor, type ArmPipeline } from "../core/pipeline.js";
import { page } from "../core/responses.js";
import { isResponse, requestScope } from "../core/scope.js";
import type { ApimCertificateState, ApimServiceState } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";
import {
  APIM,
  SERVICE_PATH,
  apimError,
  apimPrincipal,
  entityNotFound,
  etagOf,
  findService,
  ifMatchFails,
  resolveSecretUrl,
  serviceId,
} from "./apim.js";

const TYPE = "Microsoft.ApiManagement/service/certificates";

export function certificateJson(
  world: ArmWorld,
  s: ApimServiceState,
  c: ApimCertificateState,
): Record<string, unknown> {
  return {
    id: `${serviceId(world, s.name)}/certificates/${c.name}`,
    type: TYPE,
    name: c.name,
    properties: c.properties,
  };
}

const withTag = (
  world: ArmWorld,
  s: ApimServiceState,
  c: ApimCertificateState,
  status = 200,
): LabResponse => ({
  status,
  headers: { etag: `"${etagOf(c.etag)}"` },
  body: certificateJson(world, s, c),
});

export function registerApimCertificates(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
  const route = (postAction?: string) => ({
    namespace: APIM,
    scope: (r: LabRequest) => requestScope(r).replace(/\/refreshSecret$/i, ""),
    action: (r: LabRequest) => actionFor(r.method, TYPE, postAction),
  });
  const wrap = (
    fn: (req: LabRequest, s: ApimServiceState) => Promise<LabResponse> | LabResponse,
    postAction?: string,
  ) =>
    pipeline.wrap(route(postAction), (req) =>
      world.exclusive(() => {
        const s = findService(world, req);
        return isResponse(s) ? s : fn(req, s);
      }),
    );
  const path = `${SERVICE_PATH}/certificates/:id`;

  router.on(
    "GET",
    `${SERVICE_PATH}/certificates`,
    wrap((req, s) =>
      page(
        world,
        req,
        Object.values(s.certificates).map((c) => certificateJson(world, s, c)),
        { apimStyle: true },
      ),
    ),
  );
  router.on(
    ["GET", "HEAD"],
    path,
    wrap((req, s) => {
      const c = s.certificates[key(req.params.id!)];
      if (!c) return entityNotFound("Certificate");
      const out = withTag(world, s, c);
      return req.method === "HEAD" ? { status: 200, headers: out.headers } : out;
    }),
  );
  router.on(
    "PUT",
    path,
    wrap(async (req, s) => {
      const existing = s.certificates[key(req.params.id!)];
      const precondition = ifMatchFails(req, existing?.etag, { required: true });
      if (precondition) return precondition;
      const body = req.body;
      const props = isObject(body) && isObject(body.properties) ? body.properties : undefined;
      const kv = props && isObject(props.keyVault) ? props.keyVault : undefined;
      if (!props || (!kv && props.data === undefined)) {
        return apimError(400, "ValidationError", "Either 'data' or 'keyVault' must be provided.");
      }
      if (!kv || typeof kv.secretIdentifier !== "string") {
        return apimError(
          400,
          "ValidationError",
          "The lab supports Key Vault certificates (properties.keyVault.secretIdentifier) only, not uploaded data.",
        );
      }
      const c: ApimCertificateState = existing ?? { name: req.params.id!, etag: 0, properties: {} };
      const failed = await sync(
        world,
        s,
        c,
        kv.secretIdentifier,
        typeof kv.identityClientId === "string" ? kv.identityClientId : undefined,
      );
      if (failed) return failed;
      c.etag++;
      s.certificates[key(c.name)] = c;
      world.changed(`${serviceId(world, s.name)}/certificates/${c.name}`);
      return withTag(world, s, c, existing ? 200 : 201);
    }),
  );
  router.on(
    "DELETE",
    path,
    wrap((req, s) => {
      const c = s.certificates[key(req.params.id!)];
      if (!c) return { status: 204 };
      const precondition = ifMatchFails(req, c.etag, { required: true });
      if (precondition) return precondition;
      delete s.certificates[key(c.name)];
      world.changed(`${serviceId(world, s.name)}/certificates/${c.name}`);
      return { status: 200 };
    }),
  );
  router.on(
    "POST",
    `${path}/refreshSecret`,
    wrap(async (req, s) => {
      const c = s.certificates[key(req.params.id!)];
      if (!c) return entityNotFound("Certificate");
      const kv = c.properties.keyVault as
        { secretIdentifier?: string; identityClientId?: string } | undefined;
      if (!kv?.secretIdentifier) {
        return apimError(400, "ValidationError", "The certificate is not a Key Vault certificate.");
      }
      const before = c.keyVault?.version;
      const failed = await sync(world, s, c, kv.secretIdentifier, kv.identityClientId);
      if (failed) return failed;
      c.etag++;
      if (c.keyVault?.version !== before) world.changed(`${serviceId(world, s.name)}/certificates/${c.name}`);
      return withTag(world, s, c);
    }, "refreshSecret"),
  );
}

/** Fetches the certificate from Key Vault into the entity (thumbprint, expiry, lastStatus). */
async function sync(
  world: ArmWorld,
  s: ApimServiceState,
  c: ApimCertificateState,
  secretIdentifier: string,
  identityClientId: string | undefined,
): Promise<LabResponse | undefined> {
  const found = await resolveSecretUrl(world, secretIdentifier);
  if (!found) {
    return apimError(400, "ValidationError", `'${secretIdentifier}' is not a Key Vault secret identifier.`);
  }
  const readable = world.kv.canRead(
    apimPrincipal(world, s, identityClientId),
    found.ref.vaultName,
    found.ref.secretName,
  );
  if (!readable || (world.kv.available && !found.resolved)) {
    return apimError(
      400,
      "ValidationError",
      `Failed to access Key Vault secret ${secretIdentifier} using the managed identity of the API Management service.`,
    );
  }
  const facts = found.resolved?.certificate;
  c.keyVault = found.ref;
  c.properties = {
    ...(facts
      ? { subject: facts.subject, thumbprint: facts.thumbprint, expirationDate: facts.notAfter }
      : {}),
    keyVault: {
      secretIdentifier,
      ...(identityClientId ? { identityClientId } : {}),
      lastStatus: { code: "Success", timeStampUtc: world.nowIso() },
    },
  };
  return undefined;
}
