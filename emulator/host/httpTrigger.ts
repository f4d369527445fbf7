/**
 * HTTP trigger data in the worker protocol's form: the incoming request as the host hands it to the worker
 * (`RpcHttp`), and the worker's `RpcHttp` answer written back to the client.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RpcHttpCookie, RpcHttpData, RpcInvocationResponse, RpcTypedData } from "./coreTypes.js";
import type { FunctionInfo } from "./contract.js";
import { typedDataToBuffer } from "./typedData.js";

const hopByHop = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "te",
  "trailer",
]);

/** The request as an `RpcHttp` trigger value (body as bytes, headers and query flattened to strings). */
export function toRpcHttpRequest(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  params: Record<string, string>,
): RpcHttpData {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || hopByHop.has(k)) continue;
    headers[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  const query: Record<string, string> = {};
  for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(",");
  const data: RpcHttpData = {
    method: req.method ?? "GET",
    url: url.href,
    headers,
    query,
    params,
  };
  if (body.length > 0) {
    data.body = { bytes: body };
    data.rawBody = { bytes: body };
  }
  return data;
}

/** The trigger metadata the host adds for an HTTP trigger (the library ignores it; kept for fidelity). */
export function httpTriggerMetadata(rpc: RpcHttpData): Record<string, RpcTypedData> {
  const metadata: Record<string, RpcTypedData> = {
    Query: { json: JSON.stringify(rpc.query ?? {}) },
    Headers: { json: JSON.stringify(rpc.headers ?? {}) },
  };
  for (const [k, v] of Object.entries(rpc.params ?? {})) metadata[k] = { string: v };
  return metadata;
}

/** The HTTP answer of an invocation: the `http` output binding (the return value or a named output). */
export function findHttpOutput(
  fn: FunctionInfo,
  response: RpcInvocationResponse,
): RpcTypedData | null | undefined {
  const output = fn.bindings.find((b) => b.direction === "out" && b.type.toLowerCase() === "http");
  if (!output) return undefined;
  if (output.name === "$return") return response.returnValue;
  return response.outputData?.find((o) => o.name === output.name)?.data;
}

function serializeCookie(c: RpcHttpCookie): string {
  const parts = [`${c.name ?? ""}=${c.value ?? ""}`];
  if (c.domain?.value) parts.push(`Domain=${c.domain.value}`);
  if (c.path?.value) parts.push(`Path=${c.path.value}`);
  const seconds = c.expires?.value?.seconds;
  if (seconds !== undefined && seconds !== null)
    parts.push(`Expires=${new Date(Number(seconds) * 1000).toUTCString()}`);
  if (c.maxAge?.value !== undefined && c.maxAge?.value !== null) parts.push(`Max-Age=${c.maxAge.value}`);
  if (c.secure?.value) parts.push("Secure");
  if (c.httpOnly?.value) parts.push("HttpOnly");
  const sameSite = { lax: "Lax", strict: "Strict", explicitNone: "None", none: undefined }[
    c.sameSite ?? "none"
  ];
  if (sameSite) parts.push(`SameSite=${sameSite}`);
  return parts.join("; ");
}

/**
 * Writes the function's HTTP answer. No answer at all gives 204, as the host does when the output is empty;
 * a non-HTTP value (a string or JSON) is written as the body of a 200.
 */
export function writeRpcHttpResponse(res: ServerResponse, output: RpcTypedData | null | undefined): void {
  if (!output) {
    res.writeHead(204).end();
    return;
  }
  const http = output.http;
  if (!http) {
    const body = typedDataToBuffer(output);
    const type =
      output.json !== undefined && output.json !== null ? "application/json" : "text/plain; charset=utf-8";
    res.writeHead(200, { "content-type": type, "content-length": body.length }).end(body);
    return;
  }
  const status = Number(http.statusCode ?? 200) || 200;
  for (const [k, v] of Object.entries(http.headers ?? {})) {
    if (!hopByHop.has(k.toLowerCase()) && k.toLowerCase() !== "content-length") res.setHeader(k, v);
  }
  const cookies = (http.cookies ?? []).map(serializeCookie);
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  const body = typedDataToBuffer(http.body);
  if (status === 204 || status === 304 || status < 200) {
    res.writeHead(status).end();
    return;
  }
  res.setHeader("content-length", body.length);
  res.writeHead(status).end(body);
}
