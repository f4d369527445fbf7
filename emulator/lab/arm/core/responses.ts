/** Response helpers shared by the ARM resource providers: paging with `nextLink`, LRO headers. */
import type { LabRequest, LabResponse } from "../../core/http.js";
import type { ArmWorld } from "./world.js";

/**
 * One page of `items`: `{value, nextLink}` (ARM style, `$skiptoken`), or with `count` for APIM
 * (`$top`/`$skip`, as the APIM SDK pages).
 */
export function page(
  world: ArmWorld,
  req: LabRequest,
  items: unknown[],
  options: { apimStyle?: boolean } = {},
): LabResponse {
  const skip = Number(req.query.get("$skiptoken") ?? req.query.get("$skip") ?? 0) || 0;
  const top = Math.min(
    Number(req.query.get("$top") ?? world.settings.pageSize) || world.settings.pageSize,
    1000,
  );
  const value = items.slice(skip, skip + top);
  const body: Record<string, unknown> = { value };
  if (options.apimStyle) body.count = items.length;
  if (skip + top < items.length) {
    // ARM writes `$skiptoken`/`$skip` unencoded.
    const version = encodeURIComponent(req.query.get("api-version") ?? "");
    const paging = options.apimStyle ? `$top=${top}&$skip=${skip + top}` : `$skiptoken=${skip + top}`;
    body.nextLink = `${world.armUrl}${req.path}?api-version=${version}&${paging}`;
  }
  return { status: 200, body };
}

/** `Retry-After` for accepted LROs, when the lab is configured to send one. */
export function retryAfter(world: ArmWorld): Record<string, string> {
  const s = world.settings.lroRetryAfterSeconds;
  return s > 0 ? { "retry-after": String(s) } : {};
}

/** The `Azure-AsyncOperation` status resource of an operation (ARM RPC shape). */
export function statusResource(world: ArmWorld, id: string): LabResponse {
  const op = world.operation(id);
  if (!op) {
    return {
      status: 404,
      body: { error: { code: "NotFound", message: `The operation '${id}' was not found.` } },
    };
  }
  const body: Record<string, unknown> = {
    id: `${op.resourceId}/operationresults/${op.id}`,
    name: op.id,
    status: op.status,
    startTime: op.startTime,
  };
  if (op.endTime) body.endTime = op.endTime;
  if (op.error) body.error = op.error;
  return { status: 200, headers: op.status === "InProgress" ? retryAfter(world) : {}, body };
}
