/**
 * Parsing Key Vault certificate events from Event Grid, in the Event Grid schema and in CloudEvents
 * 1.0, into one normalised {@link CertificateEvent}, or a typed rejection that says why.
 *
 * Parsing is defensive because the wire is inconsistent (FACTS.md §1): `data` keys arrive in
 * PascalCase (`ObjectName`) or camelCase (`objectName`), keys and values may carry stray spaces
 * (`"ObjectName "`, `" ee05…"`), and `NBF`/`EXP` may be numbers or numeric strings.
 */
import { z } from "zod";
import { ArmTypes, normaliseArmId, parseArmId } from "./armIds.js";
import { formatPath } from "./bindings.js";

/** The certificate event types the control plane acts on. */
export const CERTIFICATE_EVENT_KINDS = [
  "CertificateNearExpiry",
  "CertificateExpired",
  "CertificateNewVersionCreated",
] as const;
/** One certificate event kind (the event type without its `Microsoft.KeyVault.` prefix). */
export type CertificateEventKind = (typeof CERTIFICATE_EVENT_KINDS)[number];

/** A Key Vault certificate event, normalised. */
export interface CertificateEvent {
  kind: CertificateEventKind;
  /** Vault name, lower case. */
  vaultName: string;
  /** The vault's base URL (origin of the object id), e.g. `https://kv.vault.azure.net`. */
  vaultUrl: string;
  certificateName: string;
  /** The version the event is about (for NearExpiry/Expired: the version that expires). */
  version: string;
  /** The object id URL, with its version. */
  objectId: string;
  notBefore?: Date;
  expiresOn?: Date;
  eventId: string;
  eventTime: Date;
  /** The vault's ARM id, from `topic` (Event Grid) or `source` (CloudEvents). */
  source: { id: string; subscriptionId: string; resourceGroup: string; vaultName: string };
  schema: "EventGrid" | "CloudEvents";
}

/** Why an event was not accepted. */
export type EventRejectionReason =
  "MalformedEvent" | "UnknownEventType" | "NotACertificate" | "VaultNotAllowed";

/** A rejected event: a machine reason and a sentence for the log line. */
export interface EventRejection {
  reason: EventRejectionReason;
  message: string;
  /** The event id, when it could be read, so the log line can name it. */
  eventId?: string;
  /** The event type as sent, when it could be read. */
  eventType?: string;
}

/** Result of parsing one event. */
export type ParseEventResult =
  { ok: true; event: CertificateEvent } | { ok: false; rejection: EventRejection };

/** Options of {@link parseKeyVaultEvent}. */
export interface ParseEventOptions {
  /**
   * Vaults whose events are accepted, by name or ARM id (case-insensitive). Default: `undefined`,
   * which accepts every vault; an empty list accepts none.
   */
  allowedVaults?: readonly string[];
}

const PREFIX = "microsoft.keyvault.";
const trimmed = z.string().transform((s) => s.trim());
const nonEmpty = trimmed.pipe(z.string().min(1));

const eventGridSchema = z.looseObject({
  id: nonEmpty,
  topic: nonEmpty,
  subject: trimmed.optional(),
  eventType: nonEmpty,
  eventTime: nonEmpty,
  data: z.record(z.string(), z.unknown()),
  dataVersion: z.unknown().optional(),
  metadataVersion: z.unknown().optional(),
});

const cloudEventSchema = z.looseObject({
  id: nonEmpty,
  source: nonEmpty,
  subject: trimmed.optional(),
  type: nonEmpty,
  time: nonEmpty,
  specversion: trimmed.pipe(z.literal("1.0", { error: 'must be "1.0"' })),
  data: z.record(z.string(), z.unknown()),
});

interface Envelope {
  schema: CertificateEvent["schema"];
  id: string;
  type: string;
  source: string;
  subject: string | undefined;
  time: string;
  data: Record<string, unknown>;
}

function reject(reason: EventRejectionReason, message: string, env?: Partial<Envelope>): ParseEventResult {
  return {
    ok: false,
    rejection: {
      reason,
      message,
      ...(env?.id ? { eventId: env.id } : {}),
      ...(env?.type ? { eventType: env.type } : {}),
    },
  };
}

function readEnvelope(input: unknown): Envelope | EventRejection {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { reason: "MalformedEvent", message: "The event is not a JSON object." };
  }
  const raw = input as Record<string, unknown>;
  const isCloud = "specversion" in raw;
  if (!isCloud && !("eventType" in raw)) {
    return {
      reason: "MalformedEvent",
      message: "The event has neither eventType (Event Grid schema) nor specversion (CloudEvents schema).",
    };
  }
  const parsed = isCloud ? cloudEventSchema.safeParse(raw) : eventGridSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const id = typeof raw.id === "string" ? raw.id : undefined;
    return {
      reason: "MalformedEvent",
      message: `The ${isCloud ? "CloudEvents" : "Event Grid"} event field ${formatPath(issue?.path ?? [])} is invalid: ${issue?.message ?? "unknown problem"}.`,
      ...(id ? { eventId: id } : {}),
    };
  }
  if (isCloud) {
    const e = parsed.data as z.infer<typeof cloudEventSchema>;
    return {
      schema: "CloudEvents",
      id: e.id,
      type: e.type,
      source: e.source,
      subject: e.subject,
      time: e.time,
      data: e.data,
    };
  }
  const e = parsed.data as z.infer<typeof eventGridSchema>;
  return {
    schema: "EventGrid",
    id: e.id,
    type: e.eventType,
    source: e.topic,
    subject: e.subject,
    time: e.eventTime,
    data: e.data,
  };
}

/** `data` keys trimmed and lower-cased, string values trimmed. */
function normaliseData(data: Record<string, unknown>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(data))
    out.set(k.trim().toLowerCase(), typeof v === "string" ? v.trim() : v);
  return out;
}

function readString(data: Map<string, unknown>, key: string): string | undefined {
  const v = data.get(key);
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** Seconds since the epoch, as a number or numeric string; `null` when present but not a number. */
function readEpoch(data: Map<string, unknown>, key: string): Date | undefined | null {
  const v = data.get(key);
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n)) return null;
  const d = new Date(n * 1000);
  return Number.isNaN(d.getTime()) ? null : d;
}

const OBJECT_ID = /^\/(certificates|secrets|keys)\/([^/]+)\/([^/]+)\/?$/i;

/**
 * Parses one Event Grid or CloudEvents event into a {@link CertificateEvent}. Never throws: anything
 * unexpected comes back as a rejection naming the problem.
 */
export function parseKeyVaultEvent(input: unknown, options: ParseEventOptions = {}): ParseEventResult {
  const env = readEnvelope(input);
  if ("reason" in env) return { ok: false, rejection: env };
  // 1. The type: one of ours, another Key Vault event, or something else entirely.
  const kind = readKind(env);
  if (typeof kind !== "string") return kind;
  // 2. The vault, from the ARM id in topic/source.
  const arm = parseArmId(env.source, ArmTypes.keyVault);
  if (!arm) {
    return reject(
      "MalformedEvent",
      `The event ${env.schema === "CloudEvents" ? "source" : "topic"} "${env.source}" is not the ARM id of a Key Vault.`,
      env,
    );
  }
  // 3. The data: object id, names, version, validity.
  const object = readObject(env, arm.name);
  if ("ok" in object) return object;
  const eventTime = new Date(env.time);
  if (Number.isNaN(eventTime.getTime())) {
    return reject("MalformedEvent", `The event time "${env.time}" is not a date.`, env);
  }
  // 4. The allow-list.
  if (!vaultAllowed(arm, options.allowedVaults)) {
    return reject("VaultNotAllowed", `The vault "${arm.name}" is not in the allow-list of vaults.`, env);
  }
  return {
    ok: true,
    event: {
      kind,
      vaultName: arm.name.toLowerCase(),
      ...object,
      eventId: env.id,
      eventTime,
      source: {
        id: arm.id,
        subscriptionId: arm.subscriptionId,
        resourceGroup: arm.resourceGroup,
        vaultName: arm.name,
      },
      schema: env.schema,
    },
  };
}

/** The certificate event kind of the envelope's type, or the rejection of any other type. */
function readKind(env: Envelope): CertificateEventKind | ParseEventResult {
  const type = env.type;
  if (!type.toLowerCase().startsWith(PREFIX)) {
    return reject("UnknownEventType", `The event type "${type}" is not a Key Vault event.`, env);
  }
  const suffix = type.slice(PREFIX.length);
  const kind = CERTIFICATE_EVENT_KINDS.find((k) => k.toLowerCase() === suffix.toLowerCase());
  if (kind) return kind;
  return /^(secret|key|vault)/i.test(suffix)
    ? reject(
        "NotACertificate",
        `The event type "${type}" is about a Key Vault object that is not a certificate.`,
        env,
      )
    : reject(
        "UnknownEventType",
        `The event type "${type}" is not a certificate event this app handles.`,
        env,
      );
}

/** What the event's data says about the certificate version. */
type EventObject = Pick<
  CertificateEvent,
  "vaultUrl" | "certificateName" | "version" | "objectId" | "notBefore" | "expiresOn"
>;

/**
 * The certificate version the event's data names: its object id URL, which the ObjectName, Version
 * and VaultName fields (when present) must agree with, and its validity; or the rejection.
 */
function readObject(env: Envelope, vaultName: string): EventObject | ParseEventResult {
  const data = normaliseData(env.data);
  const objectType = readString(data, "objecttype");
  if (objectType && objectType.toLowerCase() !== "certificate") {
    return reject("NotACertificate", `The event's ObjectType is "${objectType}", not "Certificate".`, env);
  }
  const id = readObjectId(env, data);
  if ("ok" in id) return id;
  const { url, idText, path } = id;
  const certificateName = readString(data, "objectname") ?? decodeURIComponent(path[2]!);
  const version = readString(data, "version") ?? decodeURIComponent(path[3]!);
  const mismatch = (field: string, value: string, what: string) =>
    reject("MalformedEvent", `The event's ${field} "${value}" does not match its ${what}.`, env);
  if (certificateName.toLowerCase() !== decodeURIComponent(path[2]!).toLowerCase())
    return mismatch("ObjectName", certificateName, `Id "${idText}"`);
  if (version.toLowerCase() !== decodeURIComponent(path[3]!).toLowerCase())
    return mismatch("Version", version, `Id "${idText}"`);
  const dataVault = readString(data, "vaultname");
  if (dataVault && dataVault.toLowerCase() !== vaultName.toLowerCase())
    return mismatch("VaultName", dataVault, `source vault "${vaultName}"`);
  const notBefore = readEpoch(data, "nbf");
  const expiresOn = readEpoch(data, "exp");
  const notEpoch = (field: string, key: string) =>
    reject(
      "MalformedEvent",
      `The event's ${field} "${String(data.get(key))}" is not seconds since the epoch.`,
      env,
    );
  if (notBefore === null) return notEpoch("NBF", "nbf");
  if (expiresOn === null) return notEpoch("EXP", "exp");
  return {
    vaultUrl: url.origin,
    certificateName,
    version,
    objectId: `${url.origin}${url.pathname.replace(/\/$/, "")}`,
    ...(notBefore ? { notBefore } : {}),
    ...(expiresOn ? { expiresOn } : {}),
  };
}

/** The data's Id: an https URL of a versioned Key Vault certificate; or the rejection. */
function readObjectId(
  env: Envelope,
  data: Map<string, unknown>,
): { url: URL; idText: string; path: RegExpExecArray } | ParseEventResult {
  const idText = readString(data, "id");
  if (!idText) return reject("MalformedEvent", "The event data has no Id (the object id URL).", env);
  let url: URL;
  try {
    url = new URL(idText);
  } catch {
    return reject("MalformedEvent", `The event data Id "${idText}" is not a URL.`, env);
  }
  const path = OBJECT_ID.exec(url.pathname);
  if (!path || url.protocol !== "https:") {
    return reject(
      "MalformedEvent",
      `The event data Id "${idText}" is not a versioned Key Vault object URL.`,
      env,
    );
  }
  if (path[1]!.toLowerCase() !== "certificates") {
    return reject(
      "NotACertificate",
      `The event data Id "${idText}" names a ${path[1]!.toLowerCase()} object.`,
      env,
    );
  }
  return { url, idText, path };
}

/** Whether the vault (by name or ARM id, case-insensitive) is allowed; every vault without a list. */
function vaultAllowed(
  arm: { id: string; name: string },
  allowedVaults: readonly string[] | undefined,
): boolean {
  if (!allowedVaults) return true;
  const allowed = new Set(
    allowedVaults.map((v) => (v.trim().startsWith("/") ? normaliseArmId(v) : v.trim().toLowerCase())),
  );
  return allowed.has(arm.name.toLowerCase()) || allowed.has(normaliseArmId(arm.id));
}

/**
 * Parses a delivery that may hold one event or an array of them (Event Grid batches), keeping the
 * order. A non-array, non-object body yields one rejection.
 */
export function parseKeyVaultEvents(body: unknown, options: ParseEventOptions = {}): ParseEventResult[] {
  return (Array.isArray(body) ? body : [body]).map((e) => parseKeyVaultEvent(e, options));
}

/** A {@link CertificateEvent} with its dates as ISO strings: safe to pass as an orchestration input. */
export type CertificateEventRecord = Omit<CertificateEvent, "notBefore" | "expiresOn" | "eventTime"> & {
  notBefore?: string;
  expiresOn?: string;
  eventTime: string;
};

/**
 * Turns an event into its JSON-safe record. Durable Functions serialises inputs with JSON, which
 * would turn `Date`s into strings behind the types' back; this makes that explicit.
 */
export function toEventRecord(e: CertificateEvent): CertificateEventRecord {
  const { notBefore, expiresOn, eventTime, ...rest } = e;
  return {
    ...rest,
    ...(notBefore ? { notBefore: notBefore.toISOString() } : {}),
    ...(expiresOn ? { expiresOn: expiresOn.toISOString() } : {}),
    eventTime: eventTime.toISOString(),
  };
}
