/** `Microsoft.Cdn/profiles`: get and list by resource group (Front Door Standard/Premium profiles). */
import type { Router } from "../../core/http.js";
import type { ArmPipeline } from "../core/pipeline.js";
import { page } from "../core/responses.js";
import type { ProfileState } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";
import { cdnRoute, profileHandler } from "./childResources.js";
import { PROFILE_PATH, checkScope, profileId } from "./frontDoor.js";

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
  router.on(
    "GET",
    PROFILE_PATH,
    profileHandler(pipeline, world, TYPE, (_req, profile) => ({
      status: 200,
      body: profileJson(world, profile),
    })),
  );
  router.on(
    "GET",
    "/subscriptions/:sub/resourceGroups/:rg/providers/Microsoft.Cdn/profiles",
    pipeline.wrap(cdnRoute(TYPE), (req) =>
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
