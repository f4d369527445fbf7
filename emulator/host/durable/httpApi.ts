/**
 * The Durable HTTP API (`/runtime/webhooks/durabletask/...` and the client's local RPC base), with
 * the routes, payloads and status codes of the Durable extension's HttpApiHandler.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { decodeJson } from "./actions.js";
import { InstanceExistsError, UnknownFunctionError, type DurableEngine } from "./engine.js";
import { historyForApi } from "./history.js";
import { terminalStatuses, type InstanceRecord, type RuntimeStatus } from "./store.js";

const allStatuses: readonly RuntimeStatus[] = [
  "Pending",
  "Running",
  "Completed",
  "ContinuedAsNew",
  "Failed",
  "Canceled",
  "Terminated",
  "Suspended",
];

/** Builds the management URLs the Durable extension hands out. */
export interface LinkBuilder {
  /** e.g. http://127.0.0.1:7071/runtime/webhooks/durabletask */
  webhookBase: string;
  taskHub: string;
  connection: string;
  systemKey: string;
}

/** The query string every management URL carries. */
export function managementQuery(links: LinkBuilder): string {
  return `taskHub=${encodeURIComponent(links.taskHub)}&connection=${encodeURIComponent(links.connection)}&code=${encodeURIComponent(links.systemKey)}`;
}

/** `HttpManagementPayload` for one instance id (or a placeholder). */
export function managementPayload(
  links: LinkBuilder,
  instanceId: string,
  origin?: string,
): Record<string, string> {
  const base = origin ? origin + new URL(links.webhookBase).pathname : links.webhookBase;
  const prefix = `${base}/instances/${instanceId === "INSTANCEID" ? instanceId : encodeURIComponent(instanceId)}`;
  const query = managementQuery(links);
  return {
    id: instanceId,
    statusQueryGetUri: `${prefix}?${query}`,
    sendEventPostUri: `${prefix}/raiseEvent/{eventName}?${query}`,
    terminatePostUri: `${prefix}/terminate?reason={text}&${query}`,
    rewindPostUri: `${prefix}/rewind?reason={text}&${query}`,
    purgeHistoryDeleteUri: `${prefix}?${query}`,
    restartPostUri: `${prefix}/restart?${query}`,
    suspendPostUri: `${prefix}/suspend?reason={text}&${query}`,
    resumePostUri: `${prefix}/resume?reason={text}&${query}`,
  };
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  send(res, status, { Message: message });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function boolParam(query: URLSearchParams, name: string, fallback: boolean): boolean {
  const value = query.get(name);
  if (value === null) return fallback;
  if (/^true$/i.test(value)) return true;
  if (/^false$/i.test(value)) return false;
  return fallback;
}

function dateParam(query: URLSearchParams, name: string): Date | undefined {
  const value = query.get(name);
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function statusesParam(query: URLSearchParams): RuntimeStatus[] | undefined {
  const values = query
    .getAll("runtimeStatus")
    .flatMap((value) => value.split(","))
    .map((value) => value.trim())
    .map((value) => allStatuses.find((status) => status.toLowerCase() === value.toLowerCase()))
    .filter((status): status is RuntimeStatus => status !== undefined);
  return values.length > 0 ? values : undefined;
}

function shortTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `StatusResponsePayload`. */
function statusPayload(
  record: InstanceRecord,
  showInput: boolean,
  history?: Record<string, unknown>[],
): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    name: record.name,
    instanceId: record.instanceId,
    runtimeStatus: record.runtimeStatus,
    input: showInput ? (decodeJson(record.input) ?? null) : null,
    customStatus: decodeJson(record.customStatus) ?? null,
    output: decodeJson(record.output) ?? null,
    createdTime: shortTime(record.createdTime),
    lastUpdatedTime: shortTime(record.lastUpdatedTime),
  };
  if (history) payload.historyEvents = history;
  return payload;
}

/**
 * Serves one Durable API request whose path below the API base is `path` (e.g. `instances/abc`).
 * `links` builds the management URLs returned by start.
 */
export async function handleDurableApi(
  engine: DurableEngine,
  links: LinkBuilder,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  url: URL,
): Promise<void> {
  const method = req.method ?? "GET";
  const segments = path
    .split("/")
    .filter((segment, index, all) => segment !== "" || index < all.length - 1)
    .map((segment) => decodeURIComponent(segment));
  const [controller, first, second, third] = segments;
  const query = url.searchParams;
  try {
    if (controller === "orchestrators" && first) {
      if (method !== "POST") return send(res, 404);
      return await startOrchestration(engine, links, req, res, first, second, url);
    }
    if (controller === "entities") {
      return sendError(res, 501, "Durable entities are not supported by the local Durable host yet.");
    }
    if (controller !== "instances") return send(res, 404);
    const instanceId = first ?? "";
    if (instanceId === "") {
      if (method === "GET") return await listInstances(engine, req, res, query);
      if (method === "DELETE") return await purgeByFilter(engine, res, query);
      return send(res, 404);
    }
    if (second === undefined) {
      if (method === "GET") return await getStatus(engine, res, instanceId, url);
      if (method === "DELETE") return await purgeOne(engine, res, instanceId);
      return send(res, 404);
    }
    if (method !== "POST") return send(res, 404);
    const operation = second.toLowerCase();
    if (operation === "raiseevent" && third) return await raiseEvent(engine, req, res, instanceId, third);
    if (operation === "terminate" || operation === "suspend" || operation === "resume") {
      const outcome = await engine.send(instanceId, { kind: operation, data: query.get("reason") ?? "" });
      return send(res, outcome === "notFound" ? 404 : outcome === "gone" ? 410 : 202);
    }
    if (operation === "rewind") {
      const record = await engine.getRecord(instanceId);
      if (!record) return send(res, 404, `No orchestration with instance ID "${instanceId}" found.`);
      if (record.runtimeStatus !== "Failed") {
        return send(
          res,
          412,
          `This orchestration has status ${record.runtimeStatus}, but only orchestrations in the "Failed" state can be rewound.`,
        );
      }
      return sendError(res, 501, "Rewind is not supported by the underlying storage provider.");
    }
    if (operation === "restart") return await restart(engine, links, req, res, instanceId, query);
    return send(res, 404);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return sendError(res, 500, `Something went wrong while processing your request: ${message}`);
  }
}

function checkStatusResponse(
  res: ServerResponse,
  links: LinkBuilder,
  req: IncomingMessage,
  instanceId: string,
): void {
  const origin = req.headers.host ? `http://${req.headers.host}` : undefined;
  const payload = managementPayload(links, instanceId, origin);
  const body = {
    id: instanceId,
    statusQueryGetUri: payload.statusQueryGetUri,
    sendEventPostUri: payload.sendEventPostUri,
    terminatePostUri: payload.terminatePostUri,
    purgeHistoryDeleteUri: payload.purgeHistoryDeleteUri,
    restartPostUri: payload.restartPostUri,
    suspendPostUri: payload.suspendPostUri,
    resumePostUri: payload.resumePostUri,
  };
  send(res, 202, body, { Location: payload.statusQueryGetUri as string, "Retry-After": "10" });
}

async function startOrchestration(
  engine: DurableEngine,
  links: LinkBuilder,
  req: IncomingMessage,
  res: ServerResponse,
  functionName: string,
  instanceId: string | undefined,
  url: URL,
): Promise<void> {
  const body = await readBody(req);
  if (body !== "" && !isJson(body)) return sendError(res, 400, "Invalid JSON content");
  try {
    const options: Parameters<DurableEngine["startNew"]>[1] = {};
    if (instanceId) options.instanceId = instanceId;
    if (body !== "") options.input = body;
    const version = url.searchParams.get("version");
    if (version) options.version = version;
    const id = await engine.startNew(functionName, options);
    checkStatusResponse(res, links, req, id);
  } catch (error) {
    if (error instanceof InstanceExistsError) return sendError(res, 409, error.message);
    if (error instanceof UnknownFunctionError) return sendError(res, 400, error.message);
    throw error;
  }
}

async function restart(
  engine: DurableEngine,
  links: LinkBuilder,
  req: IncomingMessage,
  res: ServerResponse,
  instanceId: string,
  query: URLSearchParams,
): Promise<void> {
  const record = await engine.getRecord(instanceId);
  if (!record) return sendError(res, 400, "InstanceId does not match a valid orchestration instance.");
  const withNewId = boolParam(query, "restartWithNewInstanceId", true);
  try {
    const options: Parameters<DurableEngine["startNew"]>[1] = {};
    if (!withNewId) options.instanceId = instanceId;
    if (record.input !== undefined) options.input = record.input;
    const id = await engine.startNew(record.name, options);
    checkStatusResponse(res, links, req, id);
  } catch (error) {
    if (error instanceof InstanceExistsError) {
      return sendError(res, 409, "A non-terminal instance with this instance ID already exists.");
    }
    throw error;
  }
}

async function getStatus(
  engine: DurableEngine,
  res: ServerResponse,
  instanceId: string,
  url: URL,
): Promise<void> {
  const query = url.searchParams;
  const record = await engine.getRecord(instanceId);
  if (!record) return send(res, 404);
  const showHistory = boolParam(query, "showHistory", false);
  const showHistoryOutput = boolParam(query, "showHistoryOutput", false);
  const showInput = boolParam(query, "showInput", true);
  const history = showHistory
    ? historyForApi(await engine.getHistory(instanceId, record.executionId), showHistoryOutput)
    : undefined;
  const payload = statusPayload(record, showInput, history);
  switch (record.runtimeStatus) {
    case "Running":
    case "Pending":
    case "ContinuedAsNew":
    case "Suspended":
      return send(res, 202, payload, { Location: url.href, "Retry-After": "5" });
    case "Failed":
      return send(res, boolParam(query, "returnInternalServerErrorOnFailure", false) ? 500 : 200, payload);
    default:
      return send(res, 200, payload);
  }
}

async function listInstances(
  engine: DurableEngine,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const top = Number.parseInt(query.get("top") ?? "", 10);
  const token = req.headers["x-ms-continuation-token"];
  const filter: Parameters<DurableEngine["listInstances"]>[0] = {};
  const from = dateParam(query, "createdTimeFrom");
  if (from) filter.createdTimeFrom = from;
  const to = dateParam(query, "createdTimeTo");
  if (to) filter.createdTimeTo = to;
  const statuses = statusesParam(query);
  if (statuses) filter.runtimeStatus = statuses;
  const prefix = query.get("instanceIdPrefix");
  if (prefix) filter.instanceIdPrefix = prefix;
  const page = await engine.listInstances(
    filter,
    Number.isFinite(top) && top > 0 ? top : undefined,
    typeof token === "string" && token !== "" ? decodeToken(token) : undefined,
  );
  const showInput = boolParam(query, "showInput", true);
  const headers: Record<string, string> = {};
  if (page.continuationToken) headers["x-ms-continuation-token"] = encodeToken(page.continuationToken);
  send(
    res,
    200,
    page.items.map((record) => statusPayload(record, showInput)),
    headers,
  );
}

function encodeToken(token: string): string {
  return Buffer.from(token, "utf8").toString("base64url");
}

function decodeToken(token: string): string {
  return Buffer.from(token, "base64url").toString("utf8");
}

async function purgeOne(engine: DurableEngine, res: ServerResponse, instanceId: string): Promise<void> {
  const record = await engine.getRecord(instanceId);
  if (!record) return send(res, 404);
  if (!terminalStatuses.has(record.runtimeStatus)) {
    return send(
      res,
      412,
      `Only orchestrations in a terminal state can be purged, but the orchestration with instance ID ${instanceId} has status ${record.runtimeStatus}`,
    );
  }
  const deleted = await engine.purge(instanceId);
  send(res, 200, { instancesDeleted: deleted ? 1 : 0 });
}

async function purgeByFilter(
  engine: DurableEngine,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const from = dateParam(query, "createdTimeFrom");
  if (!from) return send(res, 400, "Please provide value for 'createdTimeFrom' parameter.");
  const to = dateParam(query, "createdTimeTo") ?? new Date();
  const requested = statusesParam(query) ?? [...terminalStatuses];
  const runtimeStatus = requested.filter((status) => terminalStatuses.has(status));
  if (runtimeStatus.length === 0) return send(res, 404);
  let deleted = 0;
  for await (const record of engine.allInstances({
    createdTimeFrom: from,
    createdTimeTo: to,
    runtimeStatus,
  })) {
    if (await engine.purge(record.instanceId)) deleted++;
  }
  if (deleted === 0) return send(res, 404);
  send(res, 200, { instancesDeleted: deleted });
}

async function raiseEvent(
  engine: DurableEngine,
  req: IncomingMessage,
  res: ServerResponse,
  instanceId: string,
  eventName: string,
): Promise<void> {
  const record = await engine.getRecord(instanceId);
  if (!record) return send(res, 404);
  if (terminalStatuses.has(record.runtimeStatus)) return send(res, 410);
  const mediaType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/json")
    return sendError(res, 400, "Only application/json request content is supported");
  const body = await readBody(req);
  if (body !== "" && !isJson(body)) return sendError(res, 400, "Invalid JSON content");
  const message: { kind: "event"; name: string; data?: string } = { kind: "event", name: eventName };
  if (body !== "") message.data = body;
  const outcome = await engine.send(instanceId, message);
  send(res, outcome === "notFound" ? 404 : outcome === "gone" ? 410 : 202);
}
