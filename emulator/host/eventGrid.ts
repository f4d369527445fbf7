/**
 * Event Grid trigger delivery, as the Functions host's Event Grid extension serves it at
 * `POST /runtime/webhooks/eventgrid?functionName=<name>` (guarded by the `eventgrid_extension` system key):
 *
 * - Event Grid schema: `aeg-event-type: SubscriptionValidation` answers `{"validationResponse": code}`;
 *   `aeg-event-type: Notification` delivers a JSON array of events.
 * - CloudEvents 1.0: the `OPTIONS` abuse-protection handshake (`WebHook-Request-Origin` ->
 *   `WebHook-Allowed-Origin`), structured mode (`application/cloudevents+json`, one event) and batch mode
 *   (`application/cloudevents-batch+json`, an array).
 *
 * Each event invokes the function once, all in parallel; 202 when every invocation succeeded, else 500 with
 * the first failure's message (Event Grid then redelivers the batch), as the extension does.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { header, sendJson, sendText } from "./httpUtil.js";
import type { AppRuntime } from "./runtime.js";

/** Thrown for a payload the webhook cannot accept; the message goes back to the sender with a 400. */
export class MalformedEventsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedEventsError";
  }
}

export type EventSchema = "EventGridSchema" | "CloudEventSchema";

const subscriptionValidationEventType = "Microsoft.EventGrid.SubscriptionValidationEvent";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function requireString(event: Record<string, unknown>, field: string, index: number, schema: string): void {
  const v = event[field];
  if (typeof v !== "string" || v.length === 0) {
    throw new MalformedEventsError(
      `Event ${index} is not a valid ${schema} event: '${field}' must be a non-empty string.`,
    );
  }
}

/** The schema of one event; throws {@link MalformedEventsError} naming the missing field when it fits neither. */
export function eventSchemaOf(event: unknown, index: number): EventSchema {
  if (!isObject(event)) throw new MalformedEventsError(`Event ${index} is not a JSON object.`);
  if ("specversion" in event) {
    if (event.specversion !== "1.0") {
      throw new MalformedEventsError(
        `Event ${index} has specversion '${String(event.specversion)}'; only CloudEvents 1.0 is supported.`,
      );
    }
    for (const f of ["id", "source", "type"]) requireString(event, f, index, "CloudEvents 1.0");
    return "CloudEventSchema";
  }
  for (const f of ["id", "eventType", "subject", "eventTime"])
    requireString(event, f, index, "Event Grid schema");
  if (Number.isNaN(Date.parse(event.eventTime as string))) {
    throw new MalformedEventsError(
      `Event ${index} has an eventTime that is not a date: '${String(event.eventTime)}'.`,
    );
  }
  return "EventGridSchema";
}

/**
 * The events of a notification body, validated against the content type:
 * `application/cloudevents+json` is one CloudEvent, `application/cloudevents-batch+json` an array of them,
 * anything else an array (or a single object) of Event Grid or CloudEvents events, not mixed.
 */
export function parseEvents(
  body: Buffer,
  contentType: string | undefined,
): { schema: EventSchema; events: Record<string, unknown>[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw new MalformedEventsError(`The request body is not valid JSON: ${(e as Error).message}`);
  }
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type === "application/cloudevents+json" && !isObject(parsed)) {
    throw new MalformedEventsError(
      "A structured-mode CloudEvent (application/cloudevents+json) must be one JSON object.",
    );
  }
  if (type === "application/cloudevents-batch+json" && !Array.isArray(parsed)) {
    throw new MalformedEventsError(
      "A CloudEvents batch (application/cloudevents-batch+json) must be a JSON array.",
    );
  }
  const list: unknown[] = Array.isArray(parsed) ? parsed : isObject(parsed) ? [parsed] : [];
  if (!Array.isArray(parsed) && !isObject(parsed)) {
    throw new MalformedEventsError("The request content should be a JSON object or array of events.");
  }
  if (list.length === 0) throw new MalformedEventsError("The request contains no event.");
  const schemas = list.map((e, i) => eventSchemaOf(e, i));
  const schema = schemas[0] as EventSchema;
  if (schemas.some((s) => s !== schema))
    throw new MalformedEventsError("The request mixes Event Grid schema and CloudEvents events.");
  if (type.startsWith("application/cloudevents") && schema !== "CloudEventSchema") {
    throw new MalformedEventsError(
      `Content type ${type} requires CloudEvents 1.0 events (with specversion).`,
    );
  }
  return { schema, events: list as Record<string, unknown>[] };
}

/** The validation code of a SubscriptionValidation request body (an Event Grid array, or a CloudEvent whose data may be a JSON string). */
export function validationCodeOf(body: Buffer): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw new MalformedEventsError(`The request body is not valid JSON: ${(e as Error).message}`);
  }
  let data: unknown = Array.isArray(parsed)
    ? (parsed[0] as Record<string, unknown> | undefined)?.data
    : isObject(parsed)
      ? parsed.data
      : undefined;
  if (typeof data === "string") {
    try {
      data = JSON.parse(data);
    } catch {
      data = undefined;
    }
  }
  const code = isObject(data) ? data.validationCode : undefined;
  if (typeof code !== "string" || code.length === 0) {
    throw new MalformedEventsError("The subscription validation event carries no data.validationCode.");
  }
  return code;
}

/** The origin the CloudEvents handshake allows: the one the sender asked for, or Event Grid's public origin. */
function allowedOrigin(req: IncomingMessage): string {
  return header(req, "webhook-request-origin") ?? "eventgrid.azure.net";
}

/** Dependencies of {@link handleEventGridWebhook}. */
export interface EventGridWebhookDeps {
  runtime: AppRuntime;
  body: () => Promise<Buffer>;
}

/** Serves one (already authorized) request to `/runtime/webhooks/eventgrid`. */
export async function handleEventGridWebhook(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  deps: EventGridWebhookDeps,
): Promise<void> {
  const functionName = url.searchParams.get("functionName") ?? "";
  const fn = functionName ? deps.runtime.get(functionName) : undefined;
  if (!fn || fn.info.trigger.type.toLowerCase() !== "eventgridtrigger") {
    sendText(res, 404, `cannot find function: '${functionName}'`);
    return;
  }
  if (req.method === "OPTIONS") {
    res
      .writeHead(200, {
        "WebHook-Allowed-Origin": allowedOrigin(req),
        "WebHook-Allowed-Rate": "*",
        "content-length": 0,
      })
      .end();
    return;
  }
  if (req.method !== "POST") {
    sendText(res, 405, `The Event Grid webhook accepts POST and OPTIONS, not ${req.method ?? ""}.`, {
      allow: "POST, OPTIONS",
    });
    return;
  }
  const body = await deps.body();
  const contentType = header(req, "content-type");
  const eventType = header(req, "aeg-event-type")?.toLowerCase();
  try {
    if (eventType === "subscriptionvalidation" || (eventType === undefined && isValidationArray(body))) {
      sendJson(res, 200, { validationResponse: validationCodeOf(body) });
      return;
    }
    if (eventType === "unsubscribe") {
      sendText(res, 202);
      return;
    }
    if (eventType !== undefined && eventType !== "notification") {
      throw new MalformedEventsError(`Unknown aeg-event-type '${header(req, "aeg-event-type") ?? ""}'.`);
    }
    const { events } = parseEvents(body, contentType);
    const results = await Promise.allSettled(
      events.map((event) =>
        deps.runtime.invokeRpc(fn.info.name, {
          data: { json: JSON.stringify(event) },
          metadata: { data: { json: JSON.stringify(event.data ?? null) } },
          reason: `EventGrid trigger fired at ${new Date().toISOString()}`,
        }),
      ),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure) {
      const reason: unknown = failure.reason;
      sendText(res, 500, reason instanceof Error ? reason.message : String(reason));
      return;
    }
    sendText(res, 202);
  } catch (e) {
    if (e instanceof MalformedEventsError) {
      sendText(res, 400, e.message);
      return;
    }
    throw e;
  }
}

function isValidationArray(body: Buffer): boolean {
  try {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    return (
      Array.isArray(parsed) && isObject(parsed[0]) && parsed[0].eventType === subscriptionValidationEventType
    );
  } catch {
    return false;
  }
}
