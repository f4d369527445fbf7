/**
 * Shared helpers of the Durable host tests: a private Azurite, a host on the sample app, HTTP helpers and
 * polling with a deadline.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureAzurite, type AzuriteHandle } from "../../../emulator/host/azurite.js";
import { startHost, type RunningHost } from "../../../emulator/host/host.js";

/** The repository root (the folder holding test/fixtures), found from this compiled file. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "test", "fixtures", "sample-app", "host.json"))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error("cannot find the repository root from " + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

export const sampleApp = (): string => resolve(repoRoot(), "test", "fixtures", "sample-app");

export interface DurableFixture {
  azurite: AzuriteHandle;
  host: RunningHost;
  dir: string;
  recordFile: string;
  code: string;
  api: string;
  stop(): Promise<void>;
}

/** Starts a private Azurite and a host on the sample app with time scale `timeScale`; `stop` removes both and the folder. */
export async function startDurableFixture(timeScale = 100): Promise<DurableFixture> {
  const dir = mkdtempSync(join(tmpdir(), "durable-host-"));
  let azurite: AzuriteHandle;
  try {
    azurite = await ensureAzurite({ location: join(dir, "azurite"), ports: "ephemeral" });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const recordFile = join(dir, "records.jsonl");
  try {
    const host = await startHost({
      appDir: sampleApp(),
      port: 0,
      stateDir: join(dir, "state"),
      timeScale,
      azurite: false,
      settings: { AzureWebJobsStorage: azurite.connectionString, SAMPLE_RECORD_FILE: recordFile },
      logLevel: "error",
      logSink: process.env.DURABLE_TEST_LOGS ? undefined : () => {},
    });
    const code = host.systemKey("durabletask_extension");
    return {
      azurite,
      host,
      dir,
      recordFile,
      code,
      api: `${host.baseUrl}/runtime/webhooks/durabletask`,
      stop: async () => {
        try {
          await host.stop();
        } finally {
          await azurite.stop();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await azurite.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The JSON lines SAMPLE_RECORD_FILE holds, of kind "durable". */
export function durableRecords(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.kind === "durable");
}

/** Polls `probe` until it answers something other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

export async function request(url: string, init: RequestInit = {}): Promise<JsonResponse> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === "" ? undefined : (JSON.parse(text) as unknown);
  } catch {
    // plain text
  }
  return { status: response.status, headers: response.headers, body };
}

export function postJson(url: string, value?: unknown): Promise<JsonResponse> {
  return request(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: value === undefined ? "" : JSON.stringify(value),
  });
}

export interface StatusBody {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  historyEvents?: Record<string, unknown>[];
}

/** Polls a status URL until the instance reaches one of `statuses`. */
export async function waitForStatus(
  statusUrl: string,
  statuses: string[] = ["Completed", "Failed", "Terminated"],
  timeoutMs = 15_000,
): Promise<StatusBody> {
  return waitFor(
    `${statusUrl} to reach ${statuses.join("/")}`,
    async () => {
      const response = await request(statusUrl);
      const body = response.body as StatusBody | undefined;
      return body && statuses.includes(body.runtimeStatus) ? body : undefined;
    },
    timeoutMs,
  );
}
