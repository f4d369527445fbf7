/** `Microsoft.Cdn/profiles/originGroups` and their `origins`: get and list (served as seeded). */
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

export function registerOrigins(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
  const route = (type: string) => ({
    namespace: CDN,
    scope: requestScope,
    action: (r: LabRequest) => actionFor(r.method, type),
  });
  const groupType = "Microsoft.Cdn/profiles/originGroups";
  const originType = "Microsoft.Cdn/profiles/originGroups/origins";
  const groupJson = (profileName: string, g: { name: string; properties: Record<string, unknown> }) => ({
    id: `${profileId(world, profileName)}/origingroups/${g.name}`,
    name: g.name,
    type: "Microsoft.Cdn/profiles/origingroups",
    properties: { ...g.properties, profileName },
  });
  const originJson = (
    profileName: string,
    group: string,
    o: { name: string; properties: Record<string, unknown> },
  ) => ({
    id: `${profileId(world, profileName)}/origingroups/${group}/origins/${o.name}`,
    name: o.name,
    type: "Microsoft.Cdn/profiles/origingroups/origins",
    properties: { ...o.properties, originGroupName: group },
  });

  router.on(
    "GET",
    `${PROFILE_PATH}/originGroups`,
    pipeline.wrap(route(groupType), (req) =>
      world.exclusive(() => {
        const p = findProfile(world, req);
        if (isResponse(p)) return p;
        return page(
          world,
          req,
          Object.values(p.originGroups).map((g) => groupJson(p.name, g)),
        );
      }),
    ),
  );
  router.on(
    "GET",
    `${PROFILE_PATH}/originGroups/:group`,
    pipeline.wrap(route(groupType), (req) =>
      world.exclusive(() => {
        const p = findProfile(world, req);
        if (isResponse(p)) return p;
        const g = p.originGroups[key(req.params.group!)];
        return g
          ? { status: 200, body: groupJson(p.name, g) }
          : childNotFound("originGroups", req.params.group!);
      }),
    ),
  );
  router.on(
    "GET",
    `${PROFILE_PATH}/originGroups/:group/origins`,
    pipeline.wrap(route(originType), (req) =>
      world.exclusive(() => {
        const p = findProfile(world, req);
        if (isResponse(p)) return p;
        const g = p.originGroups[key(req.params.group!)];
        if (!g) return childNotFound("originGroups", req.params.group!);
        return page(
          world,
          req,
          Object.values(g.origins).map((o) => originJson(p.name, g.name, o)),
        );
      }),
    ),
  );
  router.on(
    "GET",
    `${PROFILE_PATH}/originGroups/:group/origins/:origin`,
    pipeline.wrap(route(originType), (req) =>
      world.exclusive(() => {
        const p = findProfile(world, req);
        if (isResponse(p)) return p;
        const g = p.originGroups[key(req.params.group!)];
        const o = g?.origins[key(req.params.origin!)];
        return g && o
          ? { status: 200, body: originJson(p.name, g.name, o) }
          : childNotFound("origins", req.params.origin!);
      }),
    ),
  );
}
