/** Request scope checks shared by the resource providers. */
import type { LabRequest, LabResponse } from "../../core/http.js";
import { armError } from "./errors.js";
import { key } from "./ids.js";
import type { ArmWorld } from "./world.js";

/** 404 SubscriptionNotFound / ResourceGroupNotFound for ids outside the lab's subscription and group. */
export function checkScope(world: ArmWorld, req: LabRequest): LabResponse | undefined {
  if (key(req.params.sub ?? "") !== key(world.subscriptionId)) {
    return armError(404, "SubscriptionNotFound", `The subscription '${req.params.sub}' could not be found.`);
  }
  if (key(req.params.rg ?? "") !== key(world.resourceGroup)) {
    return armError(404, "ResourceGroupNotFound", `Resource group '${req.params.rg}' could not be found.`);
  }
  return undefined;
}

export const isResponse = (v: unknown): v is LabResponse =>
  typeof v === "object" && v !== null && "status" in v && typeof (v as LabResponse).status === "number";

/** The scope of a request: its path up to the resource (no query), as ARM checks RBAC on it. */
export const requestScope = (req: LabRequest): string => req.path.replace(/\/+$/, "");
