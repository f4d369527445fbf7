/**
 * Starts the local host in this process on the sample app (test/fixtures/sample-app) with a temporary state
 * folder and a record file the app's non-HTTP functions append to, and polls that file.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startHost, type HostOptions, type RunningHost } from "../../../emulator/host/host.js";
import type { LogLevel } from "../../../emulator/host/log.js";

/** The sample app folder (test files run from dist-*, the fixture stays in the source tree). */
export const sampleAppDir = resolve(
  fileURLToPath(new URL(".", import.meta.url)),
  "../../../../test/fixtures/sample-app",
);

/** One line the sample app recorded. */
export interface SampleRecord {
  kind: string;
  [field: string]: unknown;
}

export interface SampleHost {
  host: RunningHost;
  stateDir: string;
  /** Log lines the host wrote. */
  logs: { line: string; level: LogLevel }[];
  records(kind?: string): SampleRecord[];
  /** Polls until `count` records of `kind` exist (or the deadline passes, then throws with what was seen). */
  waitForRecords(kind: string, count: number, timeoutMs?: number): Promise<SampleRecord[]>;
  stop(): Promise<void>;
}

/** Polls `check` every 20 ms until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts the sample app on a free port with no extensions (the Durable tests cover those). */
export async function startSampleHost(options: Partial<HostOptions> = {}): Promise<SampleHost> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "host-test-"));
  const recordFile = join(stateDir, "records.jsonl");
  const logs: { line: string; level: LogLevel }[] = [];
  let host: RunningHost;
  try {
    host = await startHost({
      appDir: sampleAppDir,
      port: 0,
      extensions: [],
      azurite: false,
      logLevel: "debug",
      logSink: (line, level) => logs.push({ line, level }),
      ...options,
      stateDir,
      settings: { SAMPLE_RECORD_FILE: recordFile, ...options.settings },
    });
  } catch (error) {
    if (!options.stateDir) rmSync(stateDir, { recursive: true, force: true });
    throw error;
  }
  const records = (kind?: string): SampleRecord[] => {
    if (!existsSync(recordFile)) return [];
    const all = readFileSync(recordFile, "utf8")
      .split("\n")
      .filter((l) => l.trim().length > 0)
      .map((l) => JSON.parse(l) as SampleRecord);
    return kind ? all.filter((r) => r.kind === kind) : all;
  };
  return {
    host,
    stateDir,
    logs,
    records,
    async waitForRecords(kind, count, timeoutMs = 5000) {
      try {
        return await waitFor(
          `${count} '${kind}' record(s)`,
          () => {
            const found = records(kind);
            return found.length >= count ? found : undefined;
          },
          timeoutMs,
        );
      } catch (e) {
        throw new Error(`${(e as Error).message} Records: ${JSON.stringify(records())}`, { cause: e });
      }
    },
    async stop() {
      await host.stop();
      if (!options.stateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
