/** The host's console output: one line per message, with the function name and invocation id when there is one. */

export type LogLevel = "debug" | "info" | "warn" | "error";

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. Default "info". */
  level?: LogLevel;
  /** Where lines go. Default: stdout for debug/info, stderr for warn/error. */
  sink?: (line: string, level: LogLevel) => void;
}

/** Where an invocation's log line comes from. */
export interface InvocationScope {
  functionName: string;
  invocationId: string;
}

export interface HostLogger {
  log(level: LogLevel, message: string, scope?: InvocationScope | string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

function defaultSink(line: string, level: LogLevel): void {
  (level === "warn" || level === "error" ? process.stderr : process.stdout).write(line + "\n");
}

/** Creates the host logger. */
export function createLogger(options: LoggerOptions = {}): HostLogger {
  const min = rank[options.level ?? "info"];
  const sink = options.sink ?? defaultSink;
  const log = (level: LogLevel, message: string, scope?: InvocationScope | string): void => {
    if (rank[level] < min) return;
    const where =
      scope === undefined
        ? "[host]"
        : typeof scope === "string"
          ? `[${scope}]`
          : `[${scope.functionName}] [${scope.invocationId}]`;
    sink(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${where} ${message}`, level);
  };
  return {
    log,
    debug: (m) => log("debug", m),
    info: (m) => log("info", m),
    warn: (m) => log("warn", m),
    error: (m) => log("error", m),
  };
}
