/**
 * ARM error responses: `{"error":{"code","message"}}` with the status codes and codes ARM and the
 * resource providers really answer with (AuthenticationFailed, AuthorizationFailed, ResourceNotFound,
 * NoRegisteredProviderFound, …).
 */
import type { LabResponse } from "../../core/http.js";

/** An ARM error response. `details` is added when given (APIM sends `"details": null`). */
export function armError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  details?: unknown,
): LabResponse {
  const error: Record<string, unknown> = { code, message };
  if (details !== undefined) error.details = details;
  return {
    status,
    headers: { "x-ms-failure-cause": status >= 500 ? "service" : "gateway", ...headers },
    body: { error },
  };
}

/** Shapes injected status faults the ARM way. */
export const armErrorShape = (_status: number, code: string, message: string): unknown => ({
  error: { code, message },
});

export const badRequest = (code: string, message: string): LabResponse => armError(400, code, message);

/** ARM's own 404 for a top-level resource that does not exist. */
export const resourceNotFound = (type: string, name: string, resourceGroup: string): LabResponse =>
  armError(
    404,
    "ResourceNotFound",
    `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );

/** ASP.NET's answer when a resource type does not support a method (e.g. PATCH on Front Door secrets). */
export const methodNotAllowed = (method: string): LabResponse =>
  armError(405, "MethodNotAllowed", `The requested resource does not support http method '${method}'.`);
