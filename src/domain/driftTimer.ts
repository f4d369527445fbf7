/**
 * The drift timer's two decisions: which schedule occurrence a run is for (so two hosts firing for
 * one occurrence start one scan), and how long the scan waits first (jitter). Pure.
 */
import { scaledSeconds, type Config } from "../config.js";

/** How far behind the invocation a timer's `scheduleStatus.last` may be and still be this run's occurrence. */
const OCCURRENCE_SLACK_MS = 5 * 60_000;

/**
 * The schedule occurrence a timer invocation runs for: `scheduleStatus.last` (the host records the
 * occurrence it is running there) when the run is past due or that time is within a few minutes of
 * the invocation, else the invocation time `now` (a run started by hand through the admin API
 * carries the previous occurrence). Two hosts firing for one occurrence thus name the same time,
 * whatever second each started in.
 */
export function scheduledOccurrence(timer: unknown, now: Date): Date {
  const t = (timer ?? {}) as { isPastDue?: unknown; scheduleStatus?: { last?: unknown } | null };
  const last = typeof t.scheduleStatus?.last === "string" ? new Date(t.scheduleStatus.last) : undefined;
  if (!last || Number.isNaN(last.getTime()) || last.getTime() > now.getTime() + 60_000) return now;
  return t.isPastDue === true || now.getTime() - last.getTime() <= OCCURRENCE_SLACK_MS ? last : now;
}

/** Seconds of drift jitter to wait, drawn by the timer trigger (orchestrators cannot draw randomness). */
export const drawJitterSeconds = (config: Config, random: number): number =>
  Math.floor(random * scaledSeconds(config, config.drift.jitterSeconds));
