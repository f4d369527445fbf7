/** `Microsoft.Cdn/profiles/originGroups` and their `origins`: get and list (served as seeded). */
import type { Router } from "../../core/http.js";
import { key } from "../core/ids.js";
import type { ArmPipeline } from "../core/pipeline.js";
import type { PlainResource } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";
import { registerChildReads } from "./childResources.js";
import { PROFILE_PATH, childNotFound, profileId } from "./frontDoor.js";

export function registerOrigins(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
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

  registerChildReads<PlainResource>(router, pipeline, world, {
    type: "Microsoft.Cdn/profiles/originGroups",
    path: `${PROFILE_PATH}/originGroups`,
    param: "group",
    notFoundType: "originGroups",
    collection: (_req, p) => ({ items: p.originGroups, json: (g) => groupJson(p.name, g) }),
  });
  registerChildReads<PlainResource>(router, pipeline, world, {
    type: "Microsoft.Cdn/profiles/originGroups/origins",
    path: `${PROFILE_PATH}/originGroups/:group/origins`,
    param: "origin",
    notFoundType: "origins",
    collection: (req, p) => {
      const g = p.originGroups[key(req.params.group!)];
      return g && { items: g.origins, json: (o) => originJson(p.name, g.name, o) };
    },
    parentNotFound: (req) => childNotFound("originGroups", req.params.group!),
  });
}
