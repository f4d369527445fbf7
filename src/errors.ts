/**
 * The project's few error classes. Messages are sentences that name the offending value and never
 * carry key material. Each class has a guard so callers can branch without `instanceof` chains.
 */

/** A condition that may clear by itself (429, 503, a busy resource, a change not propagated yet). */
export class RetriableError extends Error {
  override readonly name = "RetriableError";
  constructor(
    message: string,
    /** Seconds the caller should wait before trying again, when the service said so. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** Input from outside (an event, an HTTP body, a setting) that fails validation. */
export class ValidationError extends Error {
  override readonly name = "ValidationError";
  constructor(
    message: string,
    /** Dotted path of the offending field, when one field is to blame. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** A setting that is missing or malformed; the app refuses to start. */
export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
  constructor(
    message: string,
    readonly setting: string,
  ) {
    super(message);
  }
}

export const isRetriableError = (e: unknown): e is RetriableError => e instanceof RetriableError;
export const isValidationError = (e: unknown): e is ValidationError => e instanceof ValidationError;
export const isConfigurationError = (e: unknown): e is ConfigurationError => e instanceof ConfigurationError;
