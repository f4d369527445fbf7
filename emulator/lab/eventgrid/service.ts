/**
 * The lab Event Grid: (a) the Key Vault system topic, whose webhook subscriptions receive the vault's
 * events (bus "keyvault.event") after the validation handshake, with Event Grid's retry schedule and
 * dead-lettering to `<stateDir>/eventgrid/deadletter/`; (b) custom topics that @azure/eventgrid's
 * EventGridPublisherClient publishes to (`https://<topic>.eventgrid.localhost:<port>/api/events`,
 * EventGrid or CloudEvents 1.0 schema), with key (`aeg-sas-key`), SAS (`aeg-sas-token`) or Entra
 * token auth (audience https://eventgrid.azure.net, role EventGrid Data Sender), recording what they
 * receive.
 *
 * Lab control routes (control server):
 *   POST/GET /lab/eventgrid/subscriptions, GET/DELETE /lab/eventgrid/subscriptions/<name>
 *     body {name, endpointUrl, schema: "EventGridSchema"|"CloudEventSchemaV1_0", includedEventTypes?,
 *     subjectBeginsWith?, subjectEndsWith?, maxDeliveryAttempts? (1..30, 30), eventTimeToLiveInMinutes? (1..1440, 1440)}
 *   GET /lab/eventgrid/deliveries[?subscription=]   delivery records (attempts, outcomes, dead letters)
 *   GET/POST /lab/eventgrid/settings {retryScale?, responseTimeoutMs?}
 *   GET/POST /lab/eventgrid/topics {name}; GET/DELETE /lab/eventgrid/topics/<name>/events
 *
 * Faults (service "eventgrid", on the publish endpoint): `latency`, `status`, `drop`.
 * Not kept across restarts: delivery records and queued retries (subscriptions, topics, keys and
 * received topic events are).
 */
import { createHmac, randomBytes } from "node:crypto";
import { z } from "zod";
import { faultMiddleware } from "../core/faults.js";
import type { LabRequest, LabResponse } from "../core/http.js";
import type { LabContext, LabService } from "../core/lab.js";
import { rgId, vaultId } from "../seed.js";
import { Deliverer, type DeliverySettings, type Subscription } from "./delivery.js";

/** Audience of Event Grid data-plane tokens. */
export const EVENTGRID_AUDIENCE = "https://eventgrid.azure.net";
export const EVENTGRID_DOMAIN = "eventgrid.localhost";
const SEND_ACTION = "Microsoft.EventGrid/topics/events/send/action";

export interface EventGridServiceOptions {
  /** Custom topic created on first start, for rotation outcome events. Default "rotation-outcomes". */
  outcomeTopic?: string;
}

interface TopicState {
  name: string;
  key1: string;
  key2: string;
  events: Array<{ receivedAt: string; schema: "EventGridSchema" | "CloudEventSchemaV1_0"; event: unknown }>;
}

interface EventGridState {
  subscriptions: Subscription[];
  topics: Record<string, TopicState>;
  settings: DeliverySettings;
}

const subscriptionSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9-]{3,64}$/, "3-64 letters, digits and hyphens"),
  endpointUrl: z.string().url(),
  schema: z.enum(["EventGridSchema", "CloudEventSchemaV1_0"]).default("EventGridSchema"),
  includedEventTypes: z.array(z.string()).optional(),
  subjectBeginsWith: z.string().optional(),
  subjectEndsWith: z.string().optional(),
  maxDeliveryAttempts: z.number().int().min(1).max(30).default(30),
  eventTimeToLiveInMinutes: z.number().int().min(1).max(1440).default(1440),
});

const bad = (message: string): LabResponse => ({
  status: 400,
  body: { error: { code: "BadRequest", message } },
});

export function eventGridService(options: EventGridServiceOptions = {}): LabService {
  return {
    name: "eventgrid",
    start(ctx: LabContext) {
      const firstStart = !ctx.store.has("eventgrid");
      const state = ctx.store.load<EventGridState>("eventgrid", () => ({
        subscriptions: [],
        topics: {},
        settings: { retryScale: 1, responseTimeoutMs: 30_000 },
      }));
      const save = () => ctx.store.save("eventgrid", state);
      const server = ctx.servers.eventGrid;
      const topicId = (name: string) => `${rgId(ctx.seed)}/providers/Microsoft.EventGrid/topics/${name}`;
      const topicEndpoint = (name: string) => `https://${name}.${EVENTGRID_DOMAIN}:${server.port}/api/events`;
      const newTopic = (name: string): TopicState => ({
        name,
        key1: randomBytes(32).toString("base64"),
        key2: randomBytes(32).toString("base64"),
        events: [],
      });

      const outcomeTopic = options.outcomeTopic ?? "rotation-outcomes";
      if (firstStart) {
        state.topics[outcomeTopic] = newTopic(outcomeTopic);
        ctx.auth.assign(
          ctx.seed.identities.controlPlane.objectId,
          "EventGrid Data Sender",
          topicId(outcomeTopic),
        );
        ctx.auth.assign(
          ctx.seed.identities.operator.objectId,
          "EventGrid Data Sender",
          topicId(outcomeTopic),
        );
        save();
      }

      const systemTopicName = `${ctx.seed.vault.name}-events`;
      const systemTopicId = `${rgId(ctx.seed)}/providers/Microsoft.EventGrid/systemTopics/${systemTopicName}`;
      const deliverer = new Deliverer({
        ca: ctx.pki.root.certPem,
        stateDir: ctx.stateDir,
        systemTopicId,
        systemTopicName,
        settings: () => state.settings,
        validationUrl: (sub, code) =>
          `${server.url}/lab/eventgrid/validate?subscription=${encodeURIComponent(sub)}&code=${encodeURIComponent(code)}`,
        log: (m) => ctx.log(m),
      });
      const off = ctx.bus.on("keyvault.event", (event) => deliverer.publish(event, state.subscriptions));
      ctx.onStop(() => {
        off();
        deliverer.stop();
      });

      ctx.endpoints.eventGrid = {
        audience: EVENTGRID_AUDIENCE,
        systemTopic: { name: systemTopicName, id: systemTopicId, source: vaultId(ctx.seed) },
        subscriptions: `${ctx.servers.control.url}/lab/eventgrid/subscriptions`,
        topics: Object.fromEntries(
          Object.values(state.topics).map((t) => [
            t.name,
            { endpoint: topicEndpoint(t.name), key: t.key1, resourceId: topicId(t.name) },
          ]),
        ),
        topicEndpoint: topicEndpoint(outcomeTopic),
        topicKey: state.topics[outcomeTopic]?.key1,
      };
      ctx.env.EVENTGRID_TOPIC_ENDPOINT = topicEndpoint(outcomeTopic);
      ctx.env.EVENTGRID_TOPIC_KEY = state.topics[outcomeTopic]?.key1 ?? "";

      // ---- manual validation URL (GET), served on the Event Grid server ----
      server.router.on("GET", "/lab/eventgrid/validate", (req) => {
        const sub = state.subscriptions.find((s) => s.name === req.query.get("subscription"));
        if (!sub || sub.validationCode !== req.query.get("code"))
          return {
            status: 400,
            body: { error: { code: "BadRequest", message: "Invalid validation code." } },
          };
        sub.provisioningState = "Succeeded";
        save();
        return { status: 200, body: "Webhook successfully validated as a subscription endpoint." };
      });

      // ---- custom topics: publish ----
      server.router.use(
        faultMiddleware(ctx.faults, "eventgrid", (_status, code, message) => ({ error: { code, message } })),
      );
      server.router.on("POST", "/api/events", async (req) => {
        const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
        const name = host.endsWith(`.${EVENTGRID_DOMAIN}`) ? host.split(".")[0]! : "";
        const topic = state.topics[name];
        if (!topic)
          return {
            status: 404,
            body: { error: { code: "NotFound", message: `The topic '${host}' does not exist.` } },
          };
        if (!req.query.get("api-version"))
          return bad("The request is missing the api-version query parameter.");
        const denied = await authorize(ctx, req, topic, topicId(name));
        if (denied) return denied;
        const cloud = /cloudevents/i.test(String(req.headers["content-type"] ?? ""));
        const events: unknown[] = Array.isArray(req.body) ? req.body : req.body ? [req.body] : [];
        if (events.length === 0) return bad("The request body must be a JSON array of events.");
        for (const [i, e] of events.entries()) {
          const problem = cloud ? checkCloudEvent(e) : checkEventGridEvent(e);
          if (problem) return bad(`${problem} (event ${i})`);
        }
        const receivedAt = new Date().toISOString();
        for (const event of events)
          topic.events.push({
            receivedAt,
            schema: cloud ? "CloudEventSchemaV1_0" : "EventGridSchema",
            event,
          });
        save();
        return { status: 200 };
      });

      // ---- control routes ----
      const r = ctx.servers.control.router;
      r.on("GET", "/lab/eventgrid/settings", () => ({ status: 200, body: state.settings }));
      r.on("POST", "/lab/eventgrid/settings", (req) => {
        const parsed = z
          .object({
            retryScale: z.number().positive().optional(),
            responseTimeoutMs: z.number().int().positive().optional(),
          })
          .safeParse(req.body ?? {});
        if (!parsed.success)
          return bad("Body must be {retryScale?: number > 0, responseTimeoutMs?: integer > 0}.");
        Object.assign(state.settings, parsed.data);
        save();
        return { status: 200, body: state.settings };
      });
      r.on("GET", "/lab/eventgrid/subscriptions", () => ({
        status: 200,
        body: { value: state.subscriptions.map(view) },
      }));
      r.on("GET", "/lab/eventgrid/subscriptions/:name", (req) => {
        const sub = state.subscriptions.find((s) => s.name === req.params.name);
        return sub ? { status: 200, body: view(sub) } : notFound(`subscription '${req.params.name}'`);
      });
      r.on("POST", "/lab/eventgrid/subscriptions", async (req) => {
        const parsed = subscriptionSchema.safeParse(req.body);
        if (!parsed.success)
          return bad(
            `Invalid subscription: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
          );
        const sub: Subscription = {
          ...parsed.data,
          provisioningState: "AwaitingManualAction",
          createdAt: new Date().toISOString(),
        };
        const result = await deliverer.validate(sub);
        sub.provisioningState = result.state;
        if (result.state === "Failed") {
          return { status: 400, body: { error: { code: "Url validation", message: result.error } } };
        }
        state.subscriptions = [...state.subscriptions.filter((s) => s.name !== sub.name), sub];
        save();
        return { status: result.state === "Succeeded" ? 201 : 202, body: view(sub) };
      });
      r.on("DELETE", "/lab/eventgrid/subscriptions/:name", (req) => {
        const before = state.subscriptions.length;
        state.subscriptions = state.subscriptions.filter((s) => s.name !== req.params.name);
        save();
        return { status: state.subscriptions.length < before ? 200 : 204 };
      });
      r.on("GET", "/lab/eventgrid/deliveries", (req) => {
        const sub = req.query.get("subscription");
        return {
          status: 200,
          body: { value: deliverer.records.filter((d) => !sub || d.subscription === sub) },
        };
      });
      r.on("GET", "/lab/eventgrid/topics", () => ({
        status: 200,
        body: {
          value: Object.values(state.topics).map((t) => ({
            name: t.name,
            endpoint: topicEndpoint(t.name),
            key: t.key1,
            resourceId: topicId(t.name),
          })),
        },
      }));
      r.on("POST", "/lab/eventgrid/topics", (req) => {
        const name = (req.body as { name?: unknown } | undefined)?.name;
        if (typeof name !== "string" || !/^[a-z0-9-]{3,50}$/.test(name))
          return bad("Body must be {name} with 3-50 lower-case letters, digits and hyphens.");
        state.topics[name] ??= newTopic(name);
        save();
        const t = state.topics[name];
        return {
          status: 201,
          body: { name, endpoint: topicEndpoint(name), key: t.key1, resourceId: topicId(name) },
        };
      });
      r.on("GET", "/lab/eventgrid/topics/:name/events", (req) => {
        const t = state.topics[req.params.name!];
        return t ? { status: 200, body: { value: t.events } } : notFound(`topic '${req.params.name}'`);
      });
      r.on("DELETE", "/lab/eventgrid/topics/:name/events", (req) => {
        const t = state.topics[req.params.name!];
        if (!t) return notFound(`topic '${req.params.name}'`);
        t.events = [];
        save();
        return { status: 204 };
      });
    },
  };
}

const view = (s: Subscription) => {
  const { validationCode: _code, ...rest } = s;
  return rest;
};

const notFound = (what: string): LabResponse => ({
  status: 404,
  body: { error: { code: "NotFound", message: `No such ${what}.` } },
});

/** Key, SAS token or bearer token; answers 401/403 in Event Grid's error shape, or undefined when allowed. */
async function authorize(
  ctx: LabContext,
  req: LabRequest,
  topic: TopicState,
  resourceId: string,
): Promise<LabResponse | undefined> {
  const host = req.headers.host ?? "";
  const unauthorized = (message: string): LabResponse => ({
    status: 401,
    body: { error: { code: "Unauthorized", message } },
  });
  const key = req.headers["aeg-sas-key"];
  if (typeof key === "string") {
    return key === topic.key1 || key === topic.key2
      ? undefined
      : unauthorized(
          `The request authorization key is not authorized for ${host.replace(/:\d+$/, "").toUpperCase()}. This is due to the reason: The request authorization key provided is not valid.`,
        );
  }
  const sas = req.headers["aeg-sas-token"];
  if (typeof sas === "string") {
    const parts = new URLSearchParams(sas);
    const r = parts.get("r") ?? "";
    const e = parts.get("e") ?? "";
    const s = parts.get("s") ?? "";
    const toSign = `r=${encodeURIComponent(r)}&e=${encodeURIComponent(e)}`;
    const valid = [topic.key1, topic.key2].some(
      (k) => createHmac("sha256", Buffer.from(k, "base64")).update(toSign).digest("base64") === s,
    );
    if (!valid) return unauthorized("The request authorization SAS token is not valid.");
    if (Date.parse(`${e} UTC`) < ctx.clock.now().getTime())
      return unauthorized("The request authorization SAS token is expired.");
    return undefined;
  }
  const auth = req.headers.authorization;
  if (!auth)
    return unauthorized("The request is missing an aeg-sas-key, aeg-sas-token or Authorization header.");
  const check = await ctx.auth.verify(auth, [EVENTGRID_AUDIENCE]);
  if (!check.ok) return unauthorized(`The bearer token is not valid: ${check.message}`);
  if (!ctx.auth.isAllowed(check.principal.objectId, resourceId, { dataAction: SEND_ACTION })) {
    return {
      status: 403,
      body: {
        error: {
          code: "Forbidden",
          message: `The principal '${check.principal.objectId}' does not have the required '${SEND_ACTION}' permission on resource '${resourceId}'.`,
        },
      },
    };
  }
  return undefined;
}

function checkEventGridEvent(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null) return "Each event must be a JSON object.";
  const ev = e as Record<string, unknown>;
  for (const k of ["id", "subject", "eventType", "eventTime", "dataVersion"]) {
    if (typeof ev[k] !== "string" || ev[k].length === 0)
      return `The event is missing the required property '${k}'.`;
  }
  if (!("data" in ev)) return "The event is missing the required property 'data'.";
  return undefined;
}

function checkCloudEvent(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null) return "Each event must be a JSON object.";
  const ev = e as Record<string, unknown>;
  for (const k of ["id", "source", "type", "specversion"]) {
    if (typeof ev[k] !== "string" || ev[k].length === 0)
      return `The CloudEvent is missing the required attribute '${k}'.`;
  }
  if (ev.specversion !== "1.0")
    return `The CloudEvent specversion '${String(ev.specversion)}' is not supported.`;
  return undefined;
}
