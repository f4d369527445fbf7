/**
 * Event Grid push delivery to webhooks, as the service documents it (learn.microsoft.com
 * event-grid/delivery-and-retry, webhook-event-delivery): the validation handshake before a
 * subscription goes live, one event per request, the fixed retry schedule (10 s, 30 s, 1 m, 5 m,
 * 10 m, 30 m, 1 h, 3 h, 6 h, then every 12 h) scaled by a lab factor, no retry on 400, 413, 401 and
 * 403, max attempts and TTL (whichever comes first), and dead-lettering to a JSON file.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { join } from "node:path";
import tls from "node:tls";
import type { LabEvents } from "../core/bus.js";

export type DeliverySchema = "EventGridSchema" | "CloudEventSchemaV1_0";

export interface Subscription {
  name: string;
  endpointUrl: string;
  schema: DeliverySchema;
  includedEventTypes?: string[];
  subjectBeginsWith?: string;
  subjectEndsWith?: string;
  /** 1..30, default 30. */
  maxDeliveryAttempts: number;
  /** 1..1440, default 1440. */
  eventTimeToLiveInMinutes: number;
  provisioningState: "Succeeded" | "AwaitingManualAction" | "Failed";
  validationCode?: string;
  createdAt: string;
}

export interface DeliveryAttempt {
  at: string;
  statusCode?: number;
  outcome: string;
  error?: string;
}

export interface DeliveryRecord {
  id: string;
  subscription: string;
  eventId: string;
  eventType: string;
  subject: string;
  status: "pending" | "delivered" | "deadLettered" | "dropped";
  attempts: DeliveryAttempt[];
  publishTime: string;
  deadLetterReason?: string;
  deadLetterFile?: string;
  /** Real ms of the next attempt while pending. */
  nextAttemptAt?: number;
}

export interface DeliverySettings {
  /** Multiplies the retry schedule and the TTL (1 = real timing; tests use e.g. 0.001). */
  retryScale: number;
  /** How long Event Grid waits for a webhook's answer (real ms). Default 30000. */
  responseTimeoutMs: number;
}

/** The documented retry schedule, in seconds. */
export const RETRY_SCHEDULE_SECONDS = [10, 30, 60, 300, 600, 1800, 3600, 10800, 21600];
const TWELVE_HOURS = 43_200;

/** Delay before attempt `n + 1` after `n` failed attempts (n ≥ 1), in seconds. */
export function retryDelaySeconds(failedAttempts: number): number {
  return RETRY_SCHEDULE_SECONDS[failedAttempts - 1] ?? TWELVE_HOURS;
}

/** Status codes Event Grid does not retry for webhooks. */
const NOT_RETRIED: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  413: "RequestEntityTooLarge",
};

function outcomeOf(status: number): string {
  if (NOT_RETRIED[status]) return NOT_RETRIED[status];
  if (status === 404) return "NotFound";
  if (status === 408) return "TimedOut";
  if (status === 429 || status === 503) return "Busy";
  return "GenericError";
}

type KeyVaultEvent = LabEvents["keyvault.event"];

/** The event as the subscription's schema carries it (CloudEvents: source = topic, data unchanged). */
export function toSchema(event: KeyVaultEvent, schema: DeliverySchema): Record<string, unknown> {
  if (schema === "EventGridSchema") return { ...event };
  return {
    id: event.id,
    source: event.topic,
    specversion: "1.0",
    type: event.eventType,
    subject: event.subject,
    time: event.eventTime,
    data: event.data,
  };
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A small HTTP(S) client for webhook calls, trusting the lab root as well as the system CAs. */
export function webhookRequest(
  url: string,
  options: { method: string; headers: Record<string, string>; body?: string; timeoutMs: number; ca: string },
): Promise<HttpResult> {
  const target = new URL(url);
  const lib = target.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      target,
      {
        method: options.method,
        headers: {
          ...options.headers,
          ...(options.body !== undefined
            ? { "content-length": String(Buffer.byteLength(options.body)) }
            : {}),
        },
        ...(target.protocol === "https:" ? { ca: [...tls.rootCertificates, options.ca] } : {}),
        timeout: options.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(options.body);
  });
}

export interface DelivererOptions {
  ca: string;
  stateDir: string;
  /** ARM id of the system topic (handshake events carry it). */
  systemTopicId: string;
  systemTopicName: string;
  settings: () => DeliverySettings;
  /** Where the manual validation URL points (GET it to validate). */
  validationUrl: (subscription: string, code: string) => string;
  log: (message: string) => void;
}

/** Runs deliveries for the system topic's subscriptions. */
export class Deliverer {
  readonly records: DeliveryRecord[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly options: DelivererOptions) {}

  /** Performs the validation handshake; returns the resulting provisioning state and an error, if any. */
  async validate(sub: Subscription): Promise<{ state: Subscription["provisioningState"]; error?: string }> {
    const { settings, ca } = this.options;
    const timeoutMs = settings().responseTimeoutMs;
    const failed = (detail: string) => ({
      state: "Failed" as const,
      error: `Webhook validation handshake failed for ${new URL(sub.endpointUrl).origin}${new URL(sub.endpointUrl).pathname}. ${detail} For troubleshooting, visit https://aka.ms/esvalidation.`,
    });
    try {
      if (sub.schema === "CloudEventSchemaV1_0") {
        const res = await webhookRequest(sub.endpointUrl, {
          method: "OPTIONS",
          headers: { "webhook-request-origin": "eventgrid.azure.net", "webhook-request-rate": "120" },
          timeoutMs,
          ca,
        });
        const allowed = String(res.headers["webhook-allowed-origin"] ?? "");
        if (res.status === 200 && (allowed === "eventgrid.azure.net" || allowed === "*"))
          return { state: "Succeeded" };
        return failed(
          `Http OPTIONS request failed with response code ${res.status} (WebHook-Allowed-Origin '${allowed}').`,
        );
      }
      const code = randomUUID().toUpperCase();
      sub.validationCode = code;
      const event = [
        {
          id: randomUUID(),
          topic: this.options.systemTopicId,
          subject: "",
          data: { validationCode: code, validationUrl: this.options.validationUrl(sub.name, code) },
          eventType: "Microsoft.EventGrid.SubscriptionValidationEvent",
          eventTime: new Date().toISOString(),
          metadataVersion: "1",
          dataVersion: "2",
        },
      ];
      const res = await webhookRequest(sub.endpointUrl, {
        method: "POST",
        headers: {
          "content-type": "application/json; charset=utf-8",
          "aeg-event-type": "SubscriptionValidation",
          "aeg-subscription-name": sub.name.toUpperCase(),
          "aeg-delivery-count": "0",
          "aeg-data-version": "2",
          "aeg-metadata-version": "1",
        },
        body: JSON.stringify(event),
        timeoutMs,
        ca,
      });
      if (res.status !== 200) return failed(`Http POST request failed with response code ${res.status}.`);
      let answer: unknown;
      try {
        answer = JSON.parse(res.body);
      } catch {
        answer = undefined;
      }
      const response =
        answer && typeof answer === "object"
          ? Object.entries(answer as Record<string, unknown>).find(
              ([k]) => k.toLowerCase() === "validationresponse",
            )?.[1]
          : undefined;
      if (response === code) return { state: "Succeeded" };
      if (response === undefined) return { state: "AwaitingManualAction" };
      return failed("The validation response did not match the validation code.");
    } catch (e) {
      return failed(
        `Http ${sub.schema === "CloudEventSchemaV1_0" ? "OPTIONS" : "POST"} request failed: ${(e as Error).message}.`,
      );
    }
  }

  /** Queues an event for every live subscription whose filters match. */
  publish(event: KeyVaultEvent, subscriptions: Subscription[]): void {
    for (const sub of subscriptions) {
      if (sub.provisioningState !== "Succeeded") continue;
      if (
        sub.includedEventTypes?.length &&
        !sub.includedEventTypes.some((t) => t.toLowerCase() === event.eventType.toLowerCase())
      )
        continue;
      if (
        sub.subjectBeginsWith &&
        !event.subject.toLowerCase().startsWith(sub.subjectBeginsWith.toLowerCase())
      )
        continue;
      if (sub.subjectEndsWith && !event.subject.toLowerCase().endsWith(sub.subjectEndsWith.toLowerCase()))
        continue;
      const record: DeliveryRecord = {
        id: randomUUID(),
        subscription: sub.name,
        eventId: event.id,
        eventType: event.eventType,
        subject: event.subject,
        status: "pending",
        attempts: [],
        publishTime: new Date().toISOString(),
        nextAttemptAt: Date.now(),
      };
      this.records.push(record);
      this.schedule(record, sub, event, 0);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(record: DeliveryRecord, sub: Subscription, event: KeyVaultEvent, delayMs: number): void {
    if (this.stopped) return;
    record.nextAttemptAt = Date.now() + delayMs;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.attempt(record, sub, event);
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  private async attempt(record: DeliveryRecord, sub: Subscription, event: KeyVaultEvent): Promise<void> {
    const settings = this.options.settings();
    const payload = toSchema(event, sub.schema);
    const cloud = sub.schema === "CloudEventSchemaV1_0";
    const attempt: DeliveryAttempt = { at: new Date().toISOString(), outcome: "GenericError" };
    try {
      const res = await webhookRequest(sub.endpointUrl, {
        method: "POST",
        headers: {
          "content-type": cloud
            ? "application/cloudevents+json; charset=utf-8"
            : "application/json; charset=utf-8",
          "aeg-event-type": "Notification",
          "aeg-subscription-name": sub.name.toUpperCase(),
          "aeg-delivery-count": String(record.attempts.length),
          "aeg-data-version": String(event.dataVersion),
          "aeg-metadata-version": String(event.metadataVersion),
        },
        body: JSON.stringify(cloud ? payload : [payload]),
        timeoutMs: settings.responseTimeoutMs,
        ca: this.options.ca,
      });
      attempt.statusCode = res.status;
      attempt.outcome = res.status >= 200 && res.status <= 204 ? "Delivered" : outcomeOf(res.status);
    } catch (e) {
      const message = (e as Error).message;
      attempt.outcome = message === "timeout" ? "TimedOut" : "GenericError";
      attempt.error = message;
    }
    if (this.stopped) return;
    record.attempts.push(attempt);
    if (attempt.outcome === "Delivered") {
      record.status = "delivered";
      delete record.nextAttemptAt;
      return;
    }
    if (attempt.statusCode !== undefined && NOT_RETRIED[attempt.statusCode]) {
      this.deadLetter(record, sub, event, `UndeliverableDueToHttp${NOT_RETRIED[attempt.statusCode]}`);
      return;
    }
    if (record.attempts.length >= sub.maxDeliveryAttempts) {
      this.deadLetter(record, sub, event, "MaxDeliveryAttemptsExceeded");
      return;
    }
    const delayMs = retryDelaySeconds(record.attempts.length) * 1000 * settings.retryScale;
    const ttlMs = sub.eventTimeToLiveInMinutes * 60_000 * settings.retryScale;
    if (Date.now() + delayMs > Date.parse(record.publishTime) + ttlMs) {
      this.deadLetter(record, sub, event, "TimeToLiveExceeded");
      return;
    }
    this.schedule(record, sub, event, delayMs);
  }

  private deadLetter(record: DeliveryRecord, sub: Subscription, event: KeyVaultEvent, reason: string): void {
    const last = record.attempts.at(-1);
    const now = new Date();
    const pad = (n: number) => String(n).padStart(2, "0");
    const dir = join(
      this.options.stateDir,
      "eventgrid",
      "deadletter",
      this.options.systemTopicName,
      sub.name,
      String(now.getUTCFullYear()),
      pad(now.getUTCMonth() + 1),
      pad(now.getUTCDate()),
      pad(now.getUTCHours()),
    );
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${randomUUID()}.json`);
    const letter = [
      {
        ...toSchema(event, sub.schema),
        deadLetterReason: reason,
        deliveryAttempts: record.attempts.length,
        lastDeliveryOutcome: last?.outcome ?? "Unknown",
        ...(last?.statusCode !== undefined ? { lastHttpStatusCode: last.statusCode } : {}),
        publishTime: record.publishTime,
        lastDeliveryAttemptTime: last?.at ?? now.toISOString(),
      },
    ];
    writeFileSync(file, JSON.stringify(letter, null, 2));
    record.status = "deadLettered";
    record.deadLetterReason = reason;
    record.deadLetterFile = file;
    delete record.nextAttemptAt;
    this.options.log(`eventgrid: ${sub.name} dead-lettered ${event.eventType} (${reason}) to ${file}`);
  }
}
