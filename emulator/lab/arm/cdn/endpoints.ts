/** `Microsoft.Cdn/profiles/afdEndpoints` and their `routes`: get and list (served as seeded). */
import type { Router } from "../../core/http.js";
import { key } from "../core/ids.js";
import type { ArmPipeline } from "../core/pipeline.js";
import type { PlainResource } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";
import { registerChildReads } from "./childResources.js";
import { PROFILE_PATH, childNotFound, profileId } from "./frontDoor.js";

export function registerEndpoints(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
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

  registerChildReads<PlainResource>(router, pipeline, world, {
    type: "Microsoft.Cdn/profiles/afdEndpoints",
    path: `${PROFILE_PATH}/afdEndpoints`,
    param: "endpoint",
    notFoundType: "afdEndpoints",
    collection: (_req, p) => ({ items: p.endpoints, json: (e) => endpointJson(p.name, e) }),
  });
  registerChildReads<PlainResource>(router, pipeline, world, {
    type: "Microsoft.Cdn/profiles/afdEndpoints/routes",
    path: `${PROFILE_PATH}/afdEndpoints/:endpoint/routes`,
    param: "route",
    notFoundType: "routes",
    collection: (req, p) => {
      const e = p.endpoints[key(req.params.endpoint!)];
      return e && { items: e.routes, json: (r) => routeJson(p.name, e.name, r) };
    },
    parentNotFound: (req) => childNotFound("afdEndpoints", req.params.endpoint!),
  });
}
