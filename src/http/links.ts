/**
 * The URLs we hand out: our own routes only, on the origin the request came to, carrying the
 * request's `?code=` (function-key auth).
 */

import type { HttpRequest } from "@azure/functions";

/** The request facts links are built from. */
export interface LinkRequest {
  /** The request URL (its origin is kept). */
  url: string;
  /** The `code` query parameter, when the request authenticated with one. */
  code: string | null;
}

/** The link facts of an HTTP request. */
export const linkRequestOf = (request: HttpRequest): LinkRequest => ({
  url: request.url,
  code: request.query.get("code"),
});

/** `url` with the request's `?code=` carried over. */
export function withCode(url: string, request: LinkRequest): string {
  const code = request.code;
  return code ? `${url}${url.includes("?") ? "&" : "?"}code=${encodeURIComponent(code)}` : url;
}

/** The links a caller gets for a rollout. */
export interface RolloutLinks {
  id: string;
  runId?: string;
  statusQueryGetUri: string;
  reportUri: string;
  cancelPostUri: string;
}

/**
 * The links of a rollout, by run id when the rollout has reported it (they keep naming this rollout
 * after the next). Never the Durable management URLs (`createHttpManagementPayload`): they carry the
 * extension's system key, which also terminates, purges and raises events on any instance, and a
 * function-key holder never gets them. Cancel is the way to stop a rollout (it rolls back);
 * terminating would leave targets half changed.
 */
export function rolloutLinks(request: LinkRequest, id: string, runId?: string): RolloutLinks {
  const base = `${new URL(request.url).origin}/api/rollouts/${encodeURIComponent(runId ?? id)}`;
  return {
    id,
    ...(runId ? { runId } : {}),
    statusQueryGetUri: withCode(`${base}/status`, request),
    reportUri: withCode(base, request),
    cancelPostUri: withCode(`${base}/cancel`, request),
  };
}

/** The inventory's own URL (the `Location` of a scan still running). */
export const inventoryLink = (request: LinkRequest): string =>
  withCode(`${new URL(request.url).origin}/api/certificates`, request);
