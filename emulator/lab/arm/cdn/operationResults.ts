/**
 * Front Door's `Azure-AsyncOperation` status resources,
 * `/subscriptions/{s}/resourcegroups/{rg}/providers/Microsoft.Cdn/operationresults/{id}`: always 200
 * with `{status: InProgress|Succeeded|Failed, error}`. Authorised as a read on the resource the
 * operation writes (so a principal scoped to the profile can poll).
 */
import type { Router } from "../../core/http.js";
import type { ArmPipeline } from "../core/pipeline.js";
import { statusResource } from "../core/responses.js";
import type { ArmWorld } from "../core/world.js";
import { CDN, checkScope } from "./frontDoor.js";

export function registerCdnOperationResults(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
  router.on(
    "GET",
    "/subscriptions/:sub/resourceGroups/:rg/providers/Microsoft.Cdn/operationresults/:id",
    pipeline.wrap(
      {
        namespace: CDN,
        scope: (req) => world.operation(req.params.id!)?.resourceId ?? req.path,
        action: () => "Microsoft.Cdn/operationresults/read",
      },
      (req) => world.exclusive(() => checkScope(world, req) ?? statusResource(world, req.params.id!)),
    ),
  );
}
