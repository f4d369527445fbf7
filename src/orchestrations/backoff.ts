/**
 * How long an orchestration waits between two rounds of a poll or two attempts of a busy write:
 * exponential backoff from a first interval up to a cap, with a floor, and jitter derived from a
 * seed (an instance id) and the attempt number, so it is the same on every replay (orchestrators
 * may not draw random numbers). Pure.
 */

/** A backoff schedule, in orchestration seconds. */
export interface Backoff {
  /** The wait after the first round. */
  firstSeconds: number;
  /** The longest wait. */
  capSeconds: number;
  /** The shortest wait, whatever a service asked for. Default 0. */
  floorSeconds?: number;
  /** Fraction of spread around the nominal wait (0.2 = ±20 %). Default 0.2. */
  jitter?: number;
}

/** A number in [0, 1) from a string (FNV-1a, 32 bits): the same input always gives the same number. */
export function unitHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 0x1_0000_0000;
}

/**
 * The wait after round `attempt` (0 = after the first round): `firstSeconds · 2^attempt`, spread by
 * the jitter, never below the floor nor above the cap.
 */
export function backoffSeconds(attempt: number, backoff: Backoff, seed: string): number {
  const floor = Math.max(0, backoff.floorSeconds ?? 0);
  const cap = Math.max(floor, backoff.capSeconds);
  const first = Math.max(floor, backoff.firstSeconds, 0.001);
  const nominal = Math.min(cap, first * 2 ** Math.min(Math.max(0, attempt), 40));
  const spread = Math.min(0.9, Math.max(0, backoff.jitter ?? 0.2));
  const factor = 1 - spread + 2 * spread * unitHash(`${seed}#${attempt}`);
  return Math.min(cap, Math.max(floor, nominal * factor));
}

/**
 * The wait before the next attempt of a write that answered busy: the backoff (at least its floor),
 * or the service's Retry-After when the service named one and it is longer. A `"default"` wait (the
 * service named none) is only a suggestion and gives way to the backoff.
 */
export function busyWaitSeconds(
  attempt: number,
  answer: { retryAfterSeconds?: number; retryAfterSource?: "service" | "default" },
  backoff: Backoff,
  seed: string,
): number {
  const own = backoffSeconds(attempt, backoff, seed);
  const said = answer.retryAfterSource !== "default" ? (answer.retryAfterSeconds ?? 0) : 0;
  return Math.max(own, said);
}
