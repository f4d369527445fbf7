/**
 * What the handlers of a Front Door profile's child resources share: each request goes through the
 * ARM pipeline (authentication, api-version, RBAC on the request path for the resource type's
 * action, faults) and runs under the world's lock with its profile found, or answers ARM's 404; and
 * the read routes of a collection — list (paged, `nextLink`) and get by name (Front Door's own 404) —
 * whether the collection is the profile's own or a parent child's (an endpoint's routes, an origin
 * group's origins).
 */
import type { Handler, LabRequest, LabResponse, Router } from "../../core/http.js";
import { key } from "../core/ids.js";
import { actionFor, type ArmPipeline, type ArmRoute } from "../core/pipeline.js";
import { page } from "../core/responses.js";
import type { ProfileState } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";
import { CDN, childNotFound, findProfile, isResponse, requestScope } from "./frontDoor.js";

/** The pipeline route of a `Microsoft.Cdn` resource type: the RBAC action follows the method. */
export const cdnRoute = (type: string): ArmRoute => ({
  namespace: CDN,
  scope: requestScope,
  action: (req: LabRequest) => actionFor(req.method, type),
});

/** A handler of a request on the profile it names. */
export type ProfileHandler = (req: LabRequest, profile: ProfileState) => Promise<LabResponse> | LabResponse;

/** Wraps `handler` for resource type `type`: the ARM pipeline, the world's lock, the profile lookup. */
export function profileHandler(
  pipeline: ArmPipeline,
  world: ArmWorld,
  type: string,
  handler: ProfileHandler,
): Handler {
  return pipeline.wrap(cdnRoute(type), (req) =>
    world.exclusive(() => {
      const profile = findProfile(world, req);
      return isResponse(profile) ? profile : handler(req, profile);
    }),
  );
}

/** The items of a collection, by key, and the ARM JSON of one. */
export interface ChildCollection<T> {
  items: Record<string, T>;
  json: (item: T) => Record<string, unknown>;
}

/** A collection served by list and get. */
export interface ChildReads<T> {
  /** The resource type, for the RBAC action, e.g. `Microsoft.Cdn/profiles/secrets`. */
  type: string;
  /** The list route, e.g. `${PROFILE_PATH}/secrets`; the get route adds `/:{param}`. */
  path: string;
  /** The route parameter that names an item. */
  param: string;
  /** The type Front Door's 404 names for a missing item, e.g. `secrets`. */
  notFoundType: string;
  /** The collection the request names; undefined when its parent does not exist. */
  collection: (req: LabRequest, profile: ProfileState) => ChildCollection<T> | undefined;
  /** The list's answer when the parent does not exist (a get answers the item's 404). */
  parentNotFound?: (req: LabRequest) => LabResponse;
}

/** Registers `GET {path}` (paged list) and `GET {path}/:{param}` for a collection. */
export function registerChildReads<T>(
  router: Router,
  pipeline: ArmPipeline,
  world: ArmWorld,
  reads: ChildReads<T>,
): void {
  const handle = (handler: ProfileHandler) => profileHandler(pipeline, world, reads.type, handler);
  router.on(
    "GET",
    reads.path,
    handle((req, profile) => {
      const c = reads.collection(req, profile);
      if (!c) return reads.parentNotFound?.(req) ?? childNotFound(reads.notFoundType, "");
      return page(world, req, Object.values(c.items).map(c.json));
    }),
  );
  router.on(
    "GET",
    `${reads.path}/:${reads.param}`,
    handle((req, profile) => {
      const name = req.params[reads.param]!;
      const c = reads.collection(req, profile);
      const item = c?.items[key(name)];
      return c && item ? { status: 200, body: c.json(item) } : childNotFound(reads.notFoundType, name);
    }),
  );
}
