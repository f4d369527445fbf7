/**
 * Kubernetes `Status` errors with the real reasons, codes, messages and details, as
 * k8s.io/apimachinery/pkg/api/errors builds them (NewNotFound, NewAlreadyExists, NewConflict,
 * NewInvalid, NewForbidden, NewApplyConflict, …).
 */
import type { LabResponse } from "../core/http.js";

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

/** A resource as errors name it: `secrets`, or `ingresses.networking.k8s.io`. */
export interface GroupResource {
  group: string;
  resource: string;
}

const qualified = (gr: GroupResource) => (gr.group ? `${gr.resource}.${gr.group}` : gr.resource);

/** Thrown by handlers and turned into a Status response. */
export class KubeStatusError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }

  toResponse(headers?: Record<string, string>): LabResponse {
    return { status: this.status.code, headers, body: this.status };
  }
}

/** True when `e` is a KubeStatusError. */
export const isStatusError = (e: unknown): e is KubeStatusError => e instanceof KubeStatusError;

export function statusError(code: number, reason: string, message: string, details?: StatusDetails) {
  const status: Status = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
  return new KubeStatusError(status);
}

const grDetails = (gr: GroupResource, name?: string): StatusDetails => ({
  ...(name ? { name } : {}),
  ...(gr.group ? { group: gr.group } : {}),
  kind: gr.resource,
});

export const notFound = (gr: GroupResource, name: string) =>
  statusError(404, "NotFound", `${qualified(gr)} "${name}" not found`, grDetails(gr, name));

export const alreadyExists = (gr: GroupResource, name: string) =>
  statusError(409, "AlreadyExists", `${qualified(gr)} "${name}" already exists`, grDetails(gr, name));

/** The optimistic-concurrency conflict (stale resourceVersion). */
export const conflict = (gr: GroupResource, name: string) =>
  statusError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(gr)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    grDetails(gr, name),
  );

/** A field error, as field.ErrorList renders it (`data[tls.key]: Required value`). */
export interface FieldError {
  field: string;
  type: "FieldValueRequired" | "FieldValueInvalid" | "FieldValueNotSupported" | "FieldValueForbidden";
  detail?: string;
  value?: unknown;
}

function fieldErrorText(e: FieldError): string {
  switch (e.type) {
    case "FieldValueRequired":
      return `Required value${e.detail ? `: ${e.detail}` : ""}`;
    case "FieldValueForbidden":
      return `Forbidden${e.detail ? `: ${e.detail}` : ""}`;
    case "FieldValueNotSupported":
      return `Unsupported value: ${JSON.stringify(e.value)}${e.detail ? `: ${e.detail}` : ""}`;
    default:
      return `Invalid value: ${JSON.stringify(e.value)}${e.detail ? `: ${e.detail}` : ""}`;
  }
}

/** 422 Invalid: `Secret "x" is invalid: data[tls.key]: Required value` (several errors in brackets). */
export function invalid(group: string, kind: string, name: string, errors: FieldError[]) {
  const texts = errors.map((e) => `${e.field}: ${fieldErrorText(e)}`);
  const agg = texts.length === 1 ? texts[0]! : `[${texts.join(", ")}]`;
  return statusError(422, "Invalid", `${kind} "${name}" is invalid: ${agg}`, {
    name,
    ...(group ? { group } : {}),
    kind,
    causes: errors.map((e) => ({ reason: e.type, message: fieldErrorText(e), field: e.field })),
  });
}

/**
 * 403 as the authorization filter writes it; AKS with Azure RBAC appends its reason to the
 * authorizer message.
 */
export function forbidden(
  gr: GroupResource,
  name: string | undefined,
  user: string,
  verb: string,
  namespace: string | undefined,
): KubeStatusError {
  const where = namespace ? `in the namespace "${namespace}"` : "at the cluster scope";
  const reason =
    "User does not have access to the resource in Azure. Update role assignment to allow access.";
  const msg = `User "${user}" cannot ${verb} resource "${gr.resource}" in API group "${gr.group}" ${where}: ${reason}`;
  const subject = name ? `${qualified(gr)} "${name}"` : qualified(gr);
  return statusError(403, "Forbidden", `${subject} is forbidden: ${msg}`, grDetails(gr, name));
}

export const unauthorized = () => statusError(401, "Unauthorized", "Unauthorized");

export const badRequest = (message: string) => statusError(400, "BadRequest", message);

export const methodNotAllowed = () =>
  statusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");

export const pathNotFound = () =>
  statusError(404, "NotFound", "the server could not find the requested resource", {});

export const unsupportedMediaType = (contentType: string, accepted: string[]) =>
  statusError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
    contentType ? { causes: [{ reason: "UnexpectedServerResponse", message: contentType }] } : undefined,
  );

/** 410 Gone for a watch from a compacted resourceVersion. */
export const gone = (rv: string) => statusError(410, "Expired", `too old resource version: ${rv}`);

/** A server-side apply conflict, as fieldmanager's NewConflictError renders it. */
export function applyConflict(conflicts: Array<{ manager: string; path: string }>) {
  let message: string;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${conflicts[0]!.manager}: ${conflicts[0]!.path}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), c.path]);
    const lines: string[] = [];
    for (const manager of [...byManager.keys()].sort()) {
      lines.push(`conflicts with ${manager}:`);
      for (const p of byManager.get(manager)!) lines.push(`- ${p}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
  }
  return statusError(409, "Conflict", message, {
    causes: conflicts.map((c) => ({
      reason: "FieldManagerConflict",
      message: `conflict with ${c.manager}`,
      field: c.path,
    })),
  });
}

/** The Status body for a generic fault of the lab fault middleware. */
export function faultStatus(status: number, code: string, message: string): Status {
  const reason =
    status === 429
      ? "TooManyRequests"
      : status === 503
        ? "ServiceUnavailable"
        : status === 504
          ? "Timeout"
          : status >= 500
            ? "InternalError"
            : code;
  return statusError(status, reason, message).status;
}
