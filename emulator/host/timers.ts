/**
 * Timer triggers: NCRONTAB schedules (six fields with seconds, or five) and TimeSpan schedules (`hh:mm:ss`),
 * `runOnStartup`, and the schedule monitor the host keeps (last/next occurrence, persisted in
 * `<stateDir>/timers.json`, so a missed occurrence runs at start with `isPastDue: true`).
 * Invocations of one timer function never overlap, as the host runs timer functions as singletons.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { CronExpressionParser } from "cron-parser";
import type { FunctionInfo } from "./contract.js";
import type { HostLogger } from "./log.js";
import type { AppRuntime } from "./runtime.js";
import { resolveSettingExpressions } from "./settings.js";
import { asText } from "./text.js";

/** A parsed timer schedule. */
export interface Schedule {
  readonly expression: string;
  /** The first occurrence strictly after `after`. */
  next(after: Date): Date;
}

const timeSpanPattern = /^(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2}))?$/;

/**
 * Parses a timer schedule: an NCRONTAB expression (`{second} {minute} {hour} {day} {month} {day-of-week}`,
 * or five fields without seconds) evaluated in `timeZone` (IANA, default UTC), or a TimeSpan such as
 * `00:05:00` (every five minutes since the host started). Throws with the reason when it is neither.
 */
export function parseSchedule(expression: string, timeZone = "UTC"): Schedule {
  const text = expression.trim();
  const span = timeSpanPattern.exec(text);
  if (span) {
    const [, d = "0", h = "0", m = "0", s = "0"] = span;
    const ms = (((Number(d) * 24 + Number(h)) * 60 + Number(m)) * 60 + Number(s)) * 1000;
    if (ms <= 0) throw new Error(`The timer schedule '${expression}' is a zero TimeSpan.`);
    return { expression: text, next: (after) => new Date(after.getTime() + ms) };
  }
  const fields = text.split(/\s+/);
  if (fields.length !== 6 && fields.length !== 5) {
    throw new Error(
      `The timer schedule '${expression}' is not an NCRONTAB expression (six fields: second minute hour day month day-of-week).`,
    );
  }
  try {
    CronExpressionParser.parse(text, { tz: timeZone });
  } catch (e) {
    throw new Error(`The timer schedule '${expression}' is not valid: ${(e as Error).message}`, { cause: e });
  }
  return {
    expression: text,
    next(after: Date): Date {
      return CronExpressionParser.parse(text, { tz: timeZone, currentDate: after }).next().toDate();
    },
  };
}

/** The schedule monitor's record of one timer function. */
export interface ScheduleStatus {
  last: string;
  next: string;
  lastUpdated: string;
}

/** The value a timer-triggered function receives (after `@azure/functions` camel-cases it). */
export interface TimerInfoWire {
  Schedule: { AdjustForDST: boolean };
  ScheduleStatus: { Last: string; Next: string; LastUpdated: string } | null;
  IsPastDue: boolean;
}

interface TimerEntry {
  fn: FunctionInfo;
  schedule: Schedule;
  runOnStartup: boolean;
  useMonitor: boolean;
  handle?: NodeJS.Timeout;
  running?: Promise<void>;
}

/** Options of {@link TimerScheduler}. */
export interface TimerSchedulerOptions {
  runtime: AppRuntime;
  logger: HostLogger;
  stateDir: string;
  settings: Record<string, string | undefined>;
}

const maxTimeout = 2 ** 31 - 1;
const neverRan = "0001-01-01T00:00:00.000Z";

/** Fires the app's timer functions. */
export class TimerScheduler {
  readonly #options: TimerSchedulerOptions;
  readonly #file: string;
  readonly #entries = new Map<string, TimerEntry>();
  #status: Record<string, ScheduleStatus>;
  #stopped = false;

  constructor(options: TimerSchedulerOptions) {
    this.#options = options;
    this.#file = join(options.stateDir, "timers.json");
    this.#status = existsSync(this.#file)
      ? (JSON.parse(readFileSync(this.#file, "utf8")) as Record<string, ScheduleStatus>)
      : {};
  }

  /** Schedules every timer-triggered function; an invalid schedule is logged and that function is not scheduled. */
  start(functions: FunctionInfo[]): void {
    const timeZone = this.#options.settings.WEBSITE_TIME_ZONE || "UTC";
    for (const fn of functions) {
      if (fn.trigger.type.toLowerCase() !== "timertrigger") continue;
      let schedule: Schedule;
      try {
        const expression = resolveSettingExpressions(asText(fn.trigger.schedule), this.#options.settings);
        schedule = parseSchedule(expression, timeZone);
      } catch (e) {
        this.#options.logger.error(
          `The timer function '${fn.name}' is not scheduled: ${(e as Error).message}`,
        );
        continue;
      }
      const entry: TimerEntry = {
        fn,
        schedule,
        runOnStartup: fn.trigger.runOnStartup === true,
        useMonitor: fn.trigger.useMonitor !== false,
      };
      this.#entries.set(fn.name, entry);
      const status = this.#status[fn.name];
      const now = new Date();
      const next = schedule.next(now);
      this.#options.logger.info(
        `Timer '${fn.name}' (${schedule.expression}): next occurrence ${next.toISOString()}.`,
      );
      if (entry.useMonitor && status && Date.parse(status.next) < now.getTime()) {
        // #run never rejects: it catches the invocation's failure (the runtime has logged it).
        void this.#run(entry, new Date(status.next), true).finally(() => this.#arm(entry));
      } else if (entry.runOnStartup) {
        void this.#run(entry, now, false).finally(() => this.#arm(entry));
      } else {
        this.#arm(entry);
      }
    }
  }

  /** The timer functions being scheduled. */
  get names(): string[] {
    return [...this.#entries.keys()];
  }

  /** Runs a timer function now, outside its schedule (the admin endpoint does this). Rejects with the function's error. */
  async runNow(functionName: string): Promise<void> {
    const entry = this.#entries.get(functionName);
    await this.#invoke(functionName, entry?.schedule, false, this.#status[functionName]);
  }

  /** Stops scheduling and waits for running invocations to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const entry of this.#entries.values()) clearTimeout(entry.handle);
    await Promise.allSettled([...this.#entries.values()].flatMap((e) => (e.running ? [e.running] : [])));
  }

  #arm(entry: TimerEntry): void {
    if (this.#stopped) return;
    const due = entry.schedule.next(new Date());
    const wait = (): void => {
      const delay = due.getTime() - Date.now();
      if (this.#stopped) return;
      if (delay > maxTimeout) {
        entry.handle = setTimeout(wait, maxTimeout);
        return;
      }
      entry.handle = setTimeout(
        () => {
          void this.#run(entry, due, false).finally(() => this.#arm(entry));
        },
        Math.max(0, delay),
      );
    };
    wait();
  }

  async #run(entry: TimerEntry, occurrence: Date, isPastDue: boolean): Promise<void> {
    if (this.#stopped) return;
    const now = new Date();
    const status: ScheduleStatus = {
      last: occurrence.toISOString(),
      next: entry.schedule.next(now).toISOString(),
      lastUpdated: now.toISOString(),
    };
    if (entry.useMonitor) {
      this.#status[entry.fn.name] = status;
      this.#save();
    }
    const running = this.#invoke(entry.fn.name, entry.schedule, isPastDue, status).catch(() => {
      // The runtime has logged the failure; a failing timer function keeps its schedule.
    });
    entry.running = running;
    await running;
  }

  async #invoke(
    functionName: string,
    schedule: Schedule | undefined,
    isPastDue: boolean,
    status: ScheduleStatus | undefined,
  ): Promise<void> {
    const now = new Date();
    const value: TimerInfoWire = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: {
        Last: status?.last ?? neverRan,
        Next: status?.next ?? (schedule ? schedule.next(now) : now).toISOString(),
        LastUpdated: status?.lastUpdated ?? now.toISOString(),
      },
      IsPastDue: isPastDue,
    };
    await this.#options.runtime.invokeRpc(functionName, {
      data: { json: JSON.stringify(value) },
      reason: `Timer fired at ${new Date().toISOString()}`,
    });
  }

  #save(): void {
    mkdirSync(dirname(this.#file), { recursive: true });
    writeFileSync(this.#file, JSON.stringify(this.#status, null, 2) + "\n");
  }
}
