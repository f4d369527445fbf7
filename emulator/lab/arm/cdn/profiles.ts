/** `Microsoft.Cdn/profiles`: get and list by resource group (Front Door Standard/Premium profiles). */
import type { LabRequest, Router } from "../../core/http.js";
import { actionFor, type ArmPipeline } from "../core/pipeline.js";
import { page } from "../core/responses.js";
import type { ProfileState } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";
import {
  CDN,
  PROFILE_PATH,
  checkScope,
  findProfile,
  isResponse,
  profileId,
  requestScope,
} from "./frontDoor.js";

const TYPE = "Microsoft.Cdn/profiles";

export function profileJson(world: ArmWorld, profile: ProfileState): Record<string, unknown> {
  return {
    id: profileId(world, profile.name),
    name: profile.name,
    type: TYPE,
    location: profile.location,
    tags: profile.tags,
    sku: { name: profile.sku },
    kind: "frontdoor",
    properties: {
      frontDoorId: profile.frontDoorId,
      originResponseTimeoutSeconds: 60,
      provisioningState: "Succeeded",
      resourceState: "Active",
      extendedProperties: {},
    },
  };
}

export function registerProfiles(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
  const route = { namespace: CDN, scope: requestScope, action: (r: LabRequest) => actionFor(r.method, TYPE) };
  router.on(
    "GET",
    PROFILE_PATH,
    pipeline.wrap(route, (req) =>
      world.exclusive(() => {
        const profile = findProfile(world, req);
        return isResponse(profile) ? profile : { status: 200, body: profileJson(world, profile) };
      }),
    ),
  );
  router.on(
    "GET",
    "/subscriptions/:sub/resourceGroups/:rg/providers/Microsoft.Cdn/profiles",
    pipeline.wrap(route, (req) =>
      world.exclusive(
        () =>
          checkScope(world, req) ??
          page(
            world,
            req,
            Object.values(world.state.profiles).map((p) => profileJson(world, p)),
          ),
      ),
    ),
  );
}
