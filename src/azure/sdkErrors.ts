/**
 * Turning SDK failures into the activities' failure convention, without leaking what a service
 * echoed back: only the HTTP status, the service's error code and a sentence of our own survive.
 *
 * - `busy`: 409, 412, 429 (with or without Retry-After; the SDK only retries the latter) and APIM's
 *   `RetryableErrorDueToAnotherOperation` — the orchestration waits on a durable timer.
 * - `retriable`: 5xx after the SDK's own retries, 408, network errors — the activity throws a
 *   {@link RetriableError} and `callActivityWithRetry` tries again.
 * - `notFound`: 404.
 * - `permanent`: every other 4xx.
 */
import { RetriableError } from "../errors.js";

/** What is kept of an SDK error: never its body or the service's message. */
export interface SdkFailure {
  kind: "busy" | "retriable" | "notFound" | "permanent";
  /** HTTP status, when there was a response. */
  status?: number;
  /** The service's error code (`Conflict`, `SecretNotFound`, Kubernetes `reason`), or a Node error code. */
  code?: string;
  /** Seconds the service asked us to wait (Retry-After), when it said so. */
  retryAfterSeconds?: number;
  /** `<operation>: HTTP <status> <code>` — safe to log and store. */
  message: string;
}

/** The suggested wait, in seconds, of a busy answer without Retry-After (marked `retryAfterSource: "default"`). */
export const DEFAULT_BUSY_SECONDS = 30;

interface HeaderBag {
  get?(name: string): string | undefined | null;
  [name: string]: unknown;
}

function header(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== "object") return undefined;
  const h = headers as HeaderBag;
  if (typeof h.get === "function") {
    const v = h.get(name);
    return v === null || v === undefined ? undefined : String(v);
  }
  const direct = h[name] ?? h[name.toLowerCase()];
  return typeof direct === "string" ? direct : Array.isArray(direct) ? String(direct[0]) : undefined;
}

/** Parses Retry-After (seconds or an HTTP date) or the millisecond variants into seconds. */
export function retryAfterSeconds(headers: unknown, now = Date.now()): number | undefined {
  const ms = header(headers, "retry-after-ms") ?? header(headers, "x-ms-retry-after-ms");
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.max(0, Number(ms) / 1000);
  const ra = header(headers, "retry-after");
  if (ra === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra.trim())) return Number(ra);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

const NETWORK_CODES = new Set([
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "UND_ERR_SOCKET",
  "REQUEST_SEND_ERROR",
]);

const safeCode = (v: unknown): string | undefined =>
  typeof v === "string" && /^[A-Za-z0-9_.-]{1,80}$/.test(v) ? v : undefined;

/** `file.js:line:column` of the frame that threw, from the stack; nothing else of the stack. */
function thrownAt(error: Error): string | undefined {
  for (const line of (error.stack ?? "").split("\n").slice(1)) {
    const m = /([A-Za-z0-9_.-]{1,80}\.[cm]?[jt]s):(\d{1,7}):(\d{1,7})\)?\s*$/.exec(line);
    if (m) return `${m[1]}:${m[2]}:${m[3]}`;
  }
  return undefined;
}

/** Reads the status, code and Retry-After of an Azure SDK `RestError` or a client-node `ApiException`. */
export function describeSdkError(error: unknown, operation: string): SdkFailure {
  const e = (error ?? {}) as Record<string, unknown>;
  const response = e.response as Record<string, unknown> | undefined;
  let status =
    typeof e.statusCode === "number"
      ? e.statusCode
      : typeof e.code === "number"
        ? e.code
        : typeof response?.status === "number"
          ? response.status
          : undefined;
  let code = typeof e.code === "string" ? safeCode(e.code) : undefined;
  // Kubernetes Status bodies: take `reason` only (the message names objects and may quote values).
  if (typeof e.body === "string" || (e.body && typeof e.body === "object")) {
    try {
      const body = (typeof e.body === "string" ? JSON.parse(e.body) : e.body) as Record<string, unknown>;
      if (body.kind === "Status") {
        code = safeCode(body.reason) ?? code;
        if (typeof body.code === "number") status = body.code;
      }
    } catch {
      // not JSON: ignore the body
    }
  }
  // ARM bodies keep their code in `error.code`; the SDK copies it to `code` already.
  const headers = response?.headers ?? e.headers;
  const retryAfter = retryAfterSeconds(headers);
  const nodeCode = typeof e.code === "string" && NETWORK_CODES.has(e.code);
  const kind: SdkFailure["kind"] =
    status === 409 || status === 412 || status === 429 || code === "RetryableErrorDueToAnotherOperation"
      ? "busy"
      : status === 404
        ? "notFound"
        : status === undefined || status >= 500 || status === 408 || nodeCode
          ? "retriable"
          : "permanent";
  // Programming errors: their text may quote the data they choked on (a PEM, a key), so only the
  // error's name and where it was thrown survive, which is enough to find the bug.
  const bug =
    status === undefined &&
    error instanceof Error &&
    /^(TypeError|RangeError|ReferenceError|SyntaxError)$/.test(error.name)
      ? `${error.name}${thrownAt(error) ? ` at ${thrownAt(error)}` : ""} (its text is withheld)`
      : undefined;
  const what =
    status !== undefined ? `HTTP ${status}${code ? ` ${code}` : ""}` : (bug ?? code ?? "no response");
  return {
    kind,
    ...(status !== undefined ? { status } : {}),
    ...(code ? { code } : {}),
    ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
    message: `${operation} failed: ${what}.`,
  };
}

/** A retriable error that carries only the safe description (never the SDK error itself). */
export function retriable(failure: SdkFailure): RetriableError {
  return new RetriableError(
    failure.message,
    failure.retryAfterSeconds === undefined ? undefined : atLeastOneSecond(failure.retryAfterSeconds),
  );
}

/** A wait in whole seconds, never below 1 (a Retry-After of 0 or 0.2 s would make a hot loop). */
const atLeastOneSecond = (seconds: number): number => Math.max(1, Math.ceil(seconds));

/** The `busy` answer of the activity contract (`BusyAnswer` in src/activities/contracts.ts). */
export interface Busy {
  status: "busy";
  retryAfterSeconds: number;
  retryAfterSource: "service" | "default";
  reason: string;
  message: string;
}

/**
 * The `busy` result for an SDK failure: the service's Retry-After (at least 1 s) when it sent one;
 * otherwise {@link DEFAULT_BUSY_SECONDS} marked `retryAfterSource: "default"`, so the orchestration
 * applies its own backoff instead.
 */
export function busyResult(failure: SdkFailure): Busy {
  const given = failure.retryAfterSeconds !== undefined;
  return {
    status: "busy",
    retryAfterSeconds: atLeastOneSecond(failure.retryAfterSeconds ?? DEFAULT_BUSY_SECONDS),
    retryAfterSource: given ? "service" : "default",
    reason: failure.code ?? (failure.status === 429 ? "Throttled" : "Conflict"),
    message: failure.message,
  };
}

/** A `busy` result we decided ourselves (e.g. a service still updating): no wait was named. */
export function busyWithoutRetryAfter(reason: string, message: string): Busy {
  return {
    status: "busy",
    retryAfterSeconds: DEFAULT_BUSY_SECONDS,
    retryAfterSource: "default",
    reason,
    message,
  };
}
