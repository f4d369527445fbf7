/** `Microsoft.Cdn/profiles/afdEndpoints` and their `routes`: get and list (served as seeded). */
import type { LabRequest, Router } from "../../core/http.js";
import { key } from "../core/ids.js";
import { actionFor, type ArmPipeline } from "../core/pipeline.js";
import { page } from "../core/responses.js";
import type { ArmWorld } from "../core/world.js";
import {
  CDN,
  PROFILE_PATH,
  childNotFound,
  findProfile,
  isResponse,
  profileId,
  requestScope,
} from "./frontDoor.js";

export function registerEndpoints(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
  const route = (type: string) => ({
    namespace: CDN,
    scope: requestScope,
    action: (r: LabRequest) => actionFor(r.method, type),
  });
  const endpointType = "Microsoft.Cdn/profiles/afdEndpoints";
  const routeType = "Microsoft.Cdn/profiles/afdEndpoints/routes";
  const endpointJson = (profileName: string, e: { name: string; properties: Record<string, unknown> }) => ({
    id: `${profileId(world, profileName)}/afdendpoints/${e.name}`,
    name: e.name,
    type: "Microsoft.Cdn/profiles/afdendpoints",
    location: "Global",
    tags: {},
    properties: { ...e.properties, profileName },
  });
  const routeJson = (
    profileName: string,
    endpoint: string,
    r: { name: string; properties: Record<string, unknown> },
  ) => ({
    id: `${profileId(world, profileName)}/afdendpoints/${endpoint}/routes/${r.name}`,
    name: r.name,
    type: "Microsoft.Cdn/profiles/afdendpoints/routes",
    properties: { ...r.properties, endpointName: endpoint },
  });

  router.on(
    "GET",
    `${PROFILE_PATH}/afdEndpoints`,
    pipeline.wrap(route(endpointType), (req) =>
      world.exclusive(() => {
        const p = findProfile(world, req);
        if (isResponse(p)) return p;
        return page(
          world,
          req,
          Object.values(p.endpoints).map((e) => endpointJson(p.name, e)),
        );
      }),
    ),
  );
  router.on(
    "GET",
    `${PROFILE_PATH}/afdEndpoints/:endpoint`,
    pipeline.wrap(route(endpointType), (req) =>
      world.exclusive(() => {
        const p = findProfile(world, req);
        if (isResponse(p)) return p;
        const e = p.endpoints[key(req.params.endpoint!)];
        return e
          ? { status: 200, body: endpointJson(p.name, e) }
          : childNotFound("afdEndpoints", req.params.endpoint!);
      }),
    ),
  );
  router.on(
    "GET",
    `${PROFILE_PATH}/afdEndpoints/:endpoint/routes`,
    pipeline.wrap(route(routeType), (req) =>
      world.exclusive(() => {
        const p = findProfile(world, req);
        if (isResponse(p)) return p;
        const e = p.endpoints[key(req.params.endpoint!)];
        if (!e) return childNotFound("afdEndpoints", req.params.endpoint!);
        return page(
          world,
          req,
          Object.values(e.routes).map((r) => routeJson(p.name, e.name, r)),
        );
      }),
    ),
  );
  router.on(
    "GET",
    `${PROFILE_PATH}/afdEndpoints/:endpoint/routes/:route`,
    pipeline.wrap(route(routeType), (req) =>
      world.exclusive(() => {
        const p = findProfile(world, req);
        if (isResponse(p)) return p;
        const e = p.endpoints[key(req.params.endpoint!)];
        const r = e?.routes[key(req.params.route!)];
        return e && r
          ? { status: 200, body: routeJson(p.name, e.name, r) }
          : childNotFound("routes", req.params.route!);
      }),
    ),
  );
}
