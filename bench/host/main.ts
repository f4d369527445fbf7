/**
 * Benchmark of the local host's Durable extension, run by `npm run bench:host`. Starts a private Azurite
 * and the host (as a child process, on bench/host/app) and prints:
 * - orchestrations completed per second for 1,000 instances of a 5-activity chain;
 * - the time of one orchestration fanning out to N activities, for N = 100, 250, 500, 1000;
 * - the host's peak resident memory (VmHWM).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureAzurite } from "../../emulator/host/azurite.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const hostMain = resolve(here, "../../emulator/host/main.js");
/** The app lives next to the TypeScript source; from dist/bench/host go back to the repository. */
function appDir(): string {
  let dir = here;
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(join(dir, "bench", "host", "app", "host.json"));
      return join(dir, "bench", "host", "app");
    } catch {
      dir = resolve(dir, "..");
    }
  }
  throw new Error("cannot find bench/host/app");
}

function startHost(stateDir: string, storage: string): Promise<{ child: ChildProcess; baseUrl: string }> {
  const child = spawn(
    process.execPath,
    [hostMain, "--app", appDir(), "--port", "0", "--state-dir", stateDir, "--no-azurite"],
    {
      env: { ...process.env, AzureWebJobsStorage: storage },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  return new Promise((resolveStart, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.length > 20_000) output = output.slice(-10_000);
      const match = /Host started at (http:\/\/\S+) /.exec(output);
      if (match) {
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
        resolveStart({ child, baseUrl: match[1] as string });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => process.stderr.write(chunk));
    child.once("exit", (code) => reject(new Error(`host exited with ${code}:\n${output}`)));
  });
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

async function json(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: unknown; token: string | null }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as unknown) : undefined,
    token: response.headers.get("x-ms-continuation-token"),
  };
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-host-"));
  const azurite = await ensureAzurite({ location: join(dir, "azurite"), ports: "ephemeral" });
  const { child, baseUrl } = await startHost(join(dir, "state"), azurite.connectionString);
  const keys = JSON.parse(readFileSync(join(dir, "state", "keys.json"), "utf8")) as {
    systemKeys?: Record<string, string>;
  };
  const code = keys.systemKeys?.durabletask_extension;
  if (!code) throw new Error("the host did not create the durabletask_extension key");
  const api = `${baseUrl}/runtime/webhooks/durabletask`;
  const start = async (name: string, id: string, input: unknown): Promise<void> => {
    const response = await json(`${api}/orchestrators/${name}/${id}?code=${code}`, {
      method: "POST",
      body: JSON.stringify(input),
    });
    if (response.status !== 202)
      throw new Error(`start ${id}: HTTP ${response.status} ${JSON.stringify(response.body)}`);
  };
  const unfinished = async (prefix: string): Promise<number> => {
    const page = await json(
      `${api}/instances/?code=${code}&instanceIdPrefix=${prefix}&runtimeStatus=Pending,Running&top=1`,
    );
    return (page.body as unknown[]).length;
  };
  try {
    // 1. Throughput: 1,000 instances x 5 chained activities.
    const instances = 1000;
    const ids = Array.from({ length: instances }, (_, i) => `chain-${i.toString().padStart(4, "0")}`);
    const began = Date.now();
    await pool(ids, 32, (id) => start("benchChain", id, { steps: 5 }));
    const startedIn = Date.now() - began;
    while ((await unfinished("chain-")) > 0) await new Promise((r) => setTimeout(r, 200));
    const chainMs = Date.now() - began;
    const failed = await json(
      `${api}/instances/?code=${code}&instanceIdPrefix=chain-&runtimeStatus=Failed,Terminated&top=5`,
    );
    if ((failed.body as unknown[]).length > 0)
      throw new Error(`some chains failed: ${JSON.stringify(failed.body)}`);
    console.log(
      `chain: ${instances} orchestrations x 5 activities in ${(chainMs / 1000).toFixed(1)} s (all started after ${(startedIn / 1000).toFixed(1)} s)`,
    );
    console.log(
      `chain: ${(instances / (chainMs / 1000)).toFixed(1)} orchestrations completed per second (${((instances * 5) / (chainMs / 1000)).toFixed(0)} activities/s)`,
    );

    // 2. Fan-out: one orchestration, N activities.
    const fanOut: { n: number; ms: number }[] = [];
    for (const n of [100, 250, 500, 1000]) {
      const id = `fan-${n}`;
      const t0 = Date.now();
      await start("benchFanOut", id, { count: n });
      for (;;) {
        const status = await json(`${api}/instances/${id}?code=${code}`);
        const body = status.body as { runtimeStatus: string; output: unknown };
        if (body.runtimeStatus === "Completed") {
          if (body.output !== n) throw new Error(`fan-out ${n} answered ${JSON.stringify(body.output)}`);
          break;
        }
        if (body.runtimeStatus === "Failed")
          throw new Error(`fan-out ${n} failed: ${JSON.stringify(body.output)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      fanOut.push({ n, ms: Date.now() - t0 });
      const last = fanOut[fanOut.length - 1] as { n: number; ms: number };
      console.log(
        `fan-out: ${n} activities in ${(last.ms / 1000).toFixed(2)} s (${(last.ms / n).toFixed(2)} ms per activity)`,
      );
    }
    const first = fanOut[0] as { n: number; ms: number };
    const lastRun = fanOut[fanOut.length - 1] as { n: number; ms: number };
    console.log(
      `fan-out growth 100 -> 1000: x${(lastRun.ms / first.ms).toFixed(1)} time for x10 activities (${lastRun.ms / first.ms > 15 ? "super-linear: replay cost dominates" : "about linear"})`,
    );
    console.log(`host peak RSS: ${peakRssMiB(child.pid as number).toFixed(0)} MiB`);
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    if (child.exitCode === null) child.kill("SIGKILL");
    await azurite.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
});
