/**
 * Error answers in each real service's shape, plus lab headers that say why (what the services put
 * in their logs: Front Door's access-log `ErrorInfo`, APIM's `ErrorReason`, nginx's error log):
 * `x-lab-error-hop`, `x-lab-error-info`, `x-lab-error-code`, `x-lab-error-detail`.
 */
import { randomBytes } from "node:crypto";
import type http from "node:http";
import type { NextHopFailure } from "./nextHop.js";

/** Front Door's `x-azure-ref` tracking reference. */
export const azureRef = (): string =>
  `${new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, "")
    .slice(0, 14)}-${randomBytes(12).toString("hex")}`;

/** Front Door access-log `ErrorInfo` token for a failed origin connection. */
export function frontDoorErrorInfo(failure: NextHopFailure): string {
  switch (failure.kind) {
    case "nameMismatch":
      return "CertificateNameCheckFailed";
    case "expired":
    case "notYetValid":
    case "untrusted":
    case "rejected":
    case "noCertificate":
      return "CertificateError";
    case "connectionRefused":
      return "OriginConnectionRefused";
    case "connectionReset":
      return "OriginConnectionAborted";
    case "timeout":
      return "OriginTimeout";
    case "unresolved":
      return "DNSNameNotResolved";
    case "handshakeFailed":
      return "OriginConnectionError";
  }
}

function header(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, "?");
}

function sendPage(
  res: http.ServerResponse,
  status: number,
  body: string,
  contentType: string,
  headers: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = Buffer.from(body);
  res.writeHead(status, {
    ...headers,
    "content-type": contentType,
    "content-length": String(payload.length),
  });
  res.end(payload);
}

/** Front Door's error page (502 when the origin fails validation or the connection fails). */
export function frontDoorError(
  res: http.ServerResponse,
  options: { status: number; ref: string; location: string; errorInfo: string; failure?: NextHopFailure },
): void {
  const detail = options.failure?.message ?? options.errorInfo;
  const html = `<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="utf-8"/><title>Azure Front Door</title></head>
<body>
<h2>Our services aren't available right now</h2>
<p>We're working to restore all services as soon as possible. Please check back soon.</p>
<p>ErrorInfo: ${options.errorInfo}</p>
<p>${escapeHtml(detail)}</p>
<p>${options.ref}</p>
</body></html>
`;
  sendPage(res, options.status, html, "text/html", {
    "x-azure-ref": options.ref,
    "x-cache": "CONFIG_NOCACHE",
    "x-lab-error-hop": `frontDoor/${options.location}`,
    "x-lab-error-info": options.errorInfo,
    ...(options.failure ? { "x-lab-error-code": options.failure.code } : {}),
    "x-lab-error-detail": header(detail),
  });
}

/** Front Door's answer for a host it has no domain or route for. */
export function frontDoorNotFound(res: http.ServerResponse, ref: string, location: string): void {
  const html = `<!DOCTYPE html>
<html><head><meta charset="utf-8"/><title>Azure Front Door</title></head>
<body><h2>Page not found</h2><p>The requested host is not configured on this Front Door.</p><p>${ref}</p></body></html>
`;
  sendPage(res, 404, html, "text/html", {
    "x-azure-ref": ref,
    "x-lab-error-hop": `frontDoor/${location}`,
    "x-lab-error-info": "NoRoute",
  });
}

/** APIM's gateway error body (`{statusCode, message, activityId}`). */
export function apimError(
  res: http.ServerResponse,
  options: { status: number; message: string; reason: string; detail: string; code?: string },
): void {
  const activityId = randomBytes(16).toString("hex");
  sendPage(
    res,
    options.status,
    JSON.stringify({ statusCode: options.status, message: options.message, activityId }),
    "application/json; charset=utf-8",
    {
      "x-lab-error-hop": "apim",
      "x-lab-error-info": options.reason,
      "x-lab-error-source": "forward-request",
      ...(options.code ? { "x-lab-error-code": options.code } : {}),
      "x-lab-error-detail": header(options.detail),
    },
  );
}

/** nginx's HTML error page, as ingress-nginx answers it (e.g. 400 "No required SSL certificate was sent"). */
export function nginxError(
  res: http.ServerResponse,
  options: { status: number; statusText: string; title?: string; detail?: string },
): void {
  const title = options.title ?? `${options.status} ${options.statusText}`;
  const html = `<html>
<head><title>${title}</title></head>
<body>
<center><h1>${options.status} ${options.statusText}</h1></center>
${options.title ? `<center>${options.title.replace(/^\d+ /, "")}</center>\n` : ""}<hr><center>nginx</center>
</body>
</html>
`;
  sendPage(res, options.status, html, "text/html", {
    "x-lab-error-hop": "ingress",
    "x-lab-error-info": options.title ?? options.statusText,
    ...(options.detail ? { "x-lab-error-detail": header(options.detail) } : {}),
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}
