/**
 * `Microsoft.ApiManagement/service/backends`: get (ETag), HEAD, list, PUT (If-Match optional, checked
 * when sent) and PATCH (If-Match required by the API; RFC 7396 merge patch of `properties`). `tls`
 * defaults to validating chain and name; `credentials.certificateIds` must name existing
 * `certificates` entities.
 */
import type { LabRequest, LabResponse, Router } from "../../core/http.js";
import { key, lastSegment } from "../core/ids.js";
import { isObject, mergePatch } from "../core/mergePatch.js";
import { actionFor, type ArmPipeline } from "../core/pipeline.js";
import { page } from "../core/responses.js";
import { isResponse, requestScope } from "../core/scope.js";
import type { ApimBackendState, ApimServiceState } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";
import {
  APIM,
  SERVICE_PATH,
  apimError,
  entityNotFound,
  etagOf,
  findService,
  ifMatchFails,
  serviceId,
} from "./apim.js";

const TYPE = "Microsoft.ApiManagement/service/backends";

export function backendJson(
  world: ArmWorld,
  s: ApimServiceState,
  b: ApimBackendState,
): Record<string, unknown> {
  return {
    id: `${serviceId(world, s.name)}/backends/${b.name}`,
    type: TYPE,
    name: b.name,
    properties: b.properties,
  };
}

export function registerApimBackends(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
  const route = {
    namespace: APIM,
    scope: requestScope,
    action: (r: LabRequest) => actionFor(r.method, TYPE),
  };
  const wrap = (fn: (req: LabRequest, s: ApimServiceState) => Promise<LabResponse> | LabResponse) =>
    pipeline.wrap(route, (req) =>
      world.exclusive(() => {
        const s = findService(world, req);
        return isResponse(s) ? s : fn(req, s);
      }),
    );
  const path = `${SERVICE_PATH}/backends/:id`;
  const tagged = (s: ApimServiceState, b: ApimBackendState, status = 200): LabResponse => ({
    status,
    headers: { etag: `"${etagOf(b.etag)}"` },
    body: backendJson(world, s, b),
  });

  router.on(
    "GET",
    `${SERVICE_PATH}/backends`,
    wrap((req, s) =>
      page(
        world,
        req,
        Object.values(s.backends).map((b) => backendJson(world, s, b)),
        { apimStyle: true },
      ),
    ),
  );
  router.on(
    ["GET", "HEAD"],
    path,
    wrap((req, s) => {
      const b = s.backends[key(req.params.id!)];
      if (!b) return entityNotFound("Backend");
      const out = tagged(s, b);
      return req.method === "HEAD" ? { status: 200, headers: out.headers } : out;
    }),
  );
  router.on(
    ["PUT", "PATCH"],
    path,
    wrap((req, s) => {
      const existing = s.backends[key(req.params.id!)];
      if (req.method === "PATCH" && !existing) return entityNotFound("Backend");
      const precondition = ifMatchFails(req, existing?.etag, { required: req.method === "PATCH" });
      if (precondition) return precondition;
      const body = req.body;
      if (!isObject(body) || !isObject(body.properties)) {
        return apimError(400, "ValidationError", "The request must contain a 'properties' object.");
      }
      const props = (
        req.method === "PATCH"
          ? mergePatch(existing!.properties, body.properties)
          : structuredClone(body.properties)
      ) as Record<string, unknown>;
      const invalid = validateBackend(s, props);
      if (invalid) return invalid;
      props.tls = {
        validateCertificateChain: true,
        validateCertificateName: true,
        ...(isObject(props.tls) ? props.tls : {}),
      };
      const b: ApimBackendState = existing ?? { name: req.params.id!, etag: 0, properties: {} };
      b.properties = props;
      b.etag++;
      s.backends[key(b.name)] = b;
      world.changed(`${serviceId(world, s.name)}/backends/${b.name}`);
      return tagged(s, b, existing ? 200 : 201);
    }),
  );
}

function validateBackend(s: ApimServiceState, props: Record<string, unknown>): LabResponse | undefined {
  if (typeof props.url !== "string" || !/^https?:\/\//i.test(props.url)) {
    return apimError(400, "ValidationError", "'url' must be an absolute http(s) URL.");
  }
  if (props.protocol !== "http" && props.protocol !== "soap") {
    return apimError(400, "ValidationError", "'protocol' must be 'http' or 'soap'.");
  }
  const ids = isObject(props.credentials) ? props.credentials.certificateIds : undefined;
  if (Array.isArray(ids)) {
    for (const id of ids) {
      if (typeof id !== "string" || !s.certificates[key(lastSegment(id))]) {
        return apimError(
          400,
          "ValidationError",
          `Certificate '${String(id)}' referenced in credentials.certificateIds was not found.`,
        );
      }
    }
  }
  return undefined;
}
