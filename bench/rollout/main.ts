/**
 * Benchmark of rollouts, run by `npm run bench:rollout` (printed figures, not timed tests).
 *
 * Starts the lab (in this process), a private Azurite and the local Functions host with the app
 * (a child process), adds N benchmark certificates to the lab — each bound to a Kubernetes TLS
 * Secret + Ingress, a Proxy hostname of the one seeded APIM service and a Front Door custom domain
 * (see topology.ts) — and for N = 1, 10, 100:
 *
 * - rotates the N certificates at once (`POST /api/rollouts` with a pre-created new version each)
 *   with zero lab latency, then with realistic latencies scaled down by the host's time scale
 *   (Kubernetes 5 s, APIM update 15 min, Front Door secret and domain writes 1 min each, deployment
 *   2 min, edge propagation 30 min westeurope / 60 min eastus): wall time; the same in unscaled
 *   time; the median rollout's duration; the ratio of the unscaled wall time to the critical path
 *   (the sum of the stage latencies of one certificate); the outcomes; and the ARM writes to the
 *   APIM service against the certificates on it (counted at the lab);
 * - runs one drift scan (`POST /admin/functions/driftRepair`, report mode) and counts the ARM,
 *   Kubernetes and Key Vault requests the lab answered, against the number of bindings.
 *
 * The app runs with the product's default probe interval and deadlines (see src/config.ts). Durable timers run `--time-scale` (realistic runs, default 300)
 * or `--zero-time-scale` (zero-latency runs, default 20) times faster; the lab's durations are the
 * realistic ones divided by the same factor. Time inside activities is not scaled (SDK pollers wait
 * 1 s of real time between polls), so scaled runs overstate the real-world durations a little.
 *
 *   npm run bench:rollout -- [--counts 1,10,100] [--time-scale 300] [--zero-time-scale 20]
 *                            [--run-timeout 300]   (seconds of real time per batch, at most)
 *                            [--budget 570]        (seconds of real time for everything; batches that
 *                                                   would start with less than a minute left are skipped)
 *                            [--modes zero,realistic]  (which latencies to rotate with)
 *                            [--max-activities N] [--max-orchestrations N]  (host.json Durable limits;
 *                                                   default: the project's host.json, 10 and 10)
 *                            [--host-cpu-prof DIR] (the host child writes a V8 CPU profile there when it
 *                                                   stops; profile the lab with node --cpu-prof on this)
 *
 * While a batch runs, a progress line every 15 s says how many rollouts have ended and how many
 * Durable instances (rollouts and their sub-orchestrations) still run.
 *
 * A batch that does not finish in time is cancelled, and the batches after it are skipped (printed
 * with the reason).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { AzuriteHandle } from "../../emulator/host/azurite.js";
import { driftScanInstanceId, rotationInstanceId } from "../../src/domain/instanceIds.js";
import type { RolloutReport } from "../../src/domain/report.js";
import type { DriftScanOutput } from "../../src/orchestrations/driftScan.js";
import { startTestLab, type TestLab } from "../../emulator/lab/inProcess.js";
import { labProbeHostOverrides, labSettings, startTestAzurite } from "../../emulator/lab/appSettings.js";
import { writeAppDir } from "../../emulator/world.js";
import { LabCalls, type CallCounts } from "./labCalls.js";
import { benchNames, BenchTopology, pool, VAULT } from "./topology.js";

/** Stage latencies in real-world seconds. */
interface Latencies {
  kubernetes: number;
  apimUpdate: number;
  frontDoorOperation: number;
  frontDoorDeployment: number;
  frontDoorWest: number;
  frontDoorEast: number;
}

const ZERO: Latencies = {
  kubernetes: 0,
  apimUpdate: 0,
  frontDoorOperation: 0,
  frontDoorDeployment: 0,
  frontDoorWest: 0,
  frontDoorEast: 0,
};
const REALISTIC: Latencies = {
  kubernetes: 5,
  apimUpdate: 15 * 60,
  frontDoorOperation: 60,
  frontDoorDeployment: 2 * 60,
  frontDoorWest: 30 * 60,
  frontDoorEast: 60 * 60,
};

/** One certificate's stages back to back: the Secret, the APIM update, the Front Door secret + domain + deployment + slowest edge. */
const criticalPath = (l: Latencies): number =>
  l.kubernetes +
  l.apimUpdate +
  2 * l.frontDoorOperation +
  l.frontDoorDeployment +
  Math.max(l.frontDoorWest, l.frontDoorEast);

/** Settings the lab's test settings give short values: removed, so the product's defaults apply. */
const PRODUCT_DEFAULTS = [
  "PROBE_INTERVAL_SECONDS",
  "PROBE_DEADLINE_KUBERNETES_SECONDS",
  "PROBE_DEADLINE_APIM_SECONDS",
  "PROBE_DEADLINE_FRONT_DOOR_SECONDS",
];

/** App settings: drift only on demand and report-only; no app-side time scaling (the host scales timers). */
const APP_SETTINGS: Record<string, string> = {
  DRIFT_SCHEDULE: "0 0 0 1 1 *",
  DRIFT_JITTER_SECONDS: "0",
  DRIFT_MODE: "report",
  TIME_SCALE: "1",
};

const here = dirname(fileURLToPath(import.meta.url));
const hostMain = resolve(here, "..", "..", "emulator", "host", "main.js");

/** The local host running the app, restartable with another time scale. */
class Host {
  baseUrl = "";
  private child: ChildProcess | undefined;
  private log = "";
  readonly keys = {
    master: randomBytes(24).toString("base64url"),
    host: randomBytes(24).toString("base64url"),
    durable: randomBytes(24).toString("base64url"),
  };

  constructor(
    private readonly appDir: string,
    private readonly stateDir: string,
    private readonly env: Record<string, string>,
    private readonly nodeArgs: string[] = [],
  ) {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(
      join(stateDir, "keys.json"),
      JSON.stringify({
        masterKey: this.keys.master,
        hostKeys: { default: this.keys.host },
        functionKeys: {},
        systemKeys: { durabletask_extension: this.keys.durable, eventgrid_extension: this.keys.host },
      }),
    );
  }

  /** Starts the host with durable timers `timeScale` times faster (stops a running one first). */
  async start(timeScale: number): Promise<void> {
    await this.stop();
    const port = this.baseUrl ? new URL(this.baseUrl).port : "0";
    const child = spawn(
      process.execPath,
      [
        ...this.nodeArgs,
        hostMain,
        "--app",
        this.appDir,
        "--port",
        port,
        "--state-dir",
        this.stateDir,
        "--time-scale",
        String(timeScale),
        "--no-azurite",
      ],
      { env: { ...process.env, ...this.env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    this.log = "";
    let timer: NodeJS.Timeout | undefined;
    this.baseUrl = await new Promise<string>((resolveStart, reject) => {
      timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`The host did not start within 30 s:\n${this.log.slice(-3000)}`));
      }, 30_000);
      const onData = (chunk: Buffer) => {
        this.log = (this.log + chunk.toString()).slice(-20_000);
        const m = /Host started at (http:\/\/127\.0\.0\.1:\d+)/.exec(this.log);
        if (m) resolveStart(m[1] as string);
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code) =>
        reject(new Error(`The host exited with ${code}:\n${this.log.slice(-3000)}`)),
      );
    });
    clearTimeout(timer);
  }

  /** The last lines the host wrote. */
  tail(chars = 3000): string {
    return this.log.slice(-chars);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Calls the host; JSON answers parsed. */
  async call(
    method: string,
    path: string,
    body?: unknown,
    key = this.keys.host,
  ): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        "x-functions-key": key,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed };
  }

  /** A Durable instance's status, or undefined when there is none. */
  async instance(id: string): Promise<Record<string, unknown> | undefined> {
    const a = await this.call(
      "GET",
      `/runtime/webhooks/durabletask/instances/${encodeURIComponent(id)}?code=${this.keys.durable}`,
    );
    return a.status === 404 ? undefined : (a.body as Record<string, unknown>);
  }

  /** How many instances whose id starts with `prefix` (sub-orchestrations too) are pending or running. */
  async unfinished(prefix: string): Promise<number> {
    return (await this.unfinishedIds(prefix))?.length ?? Number.NaN;
  }

  /** The ids of the instances whose id starts with `prefix` that are pending or running. */
  async unfinishedIds(prefix: string): Promise<string[] | undefined> {
    const a = await this.call(
      "GET",
      `/runtime/webhooks/durabletask/instances?code=${this.keys.durable}&instanceIdPrefix=${encodeURIComponent(prefix)}&runtimeStatus=Pending,Running&top=1000&showInput=false`,
    );
    return Array.isArray(a.body)
      ? a.body.map((i) => String((i as { instanceId?: unknown }).instanceId))
      : undefined;
  }
}

/** One batch of rotations. */
interface RotationRun {
  mode: "zero" | "realistic";
  n: number;
  timeScale: number;
  wallSeconds: number;
  finished: boolean;
  /** Median of the rollouts' own durations (report start to end), real seconds. */
  medianRolloutSeconds: number;
  outcomes: Map<string, number>;
  /** Medians of the rollouts' phases, real seconds: before the first stage, each stage, after the last. */
  phases: [string, number][];
  /** A few distinct reasons of rollouts that did not succeed (their reports' outcome messages). */
  failures: string[];
  calls: CallCounts;
}

interface ScanRun {
  certificates: number;
  bindings: number;
  seconds: number;
  calls: CallCounts;
  warnings: number;
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (text: string) => console.log(text);

async function setLatencies(lab: TestLab, l: Latencies, timeScale: number): Promise<void> {
  const ms = (seconds: number) => Math.round((seconds * 1000) / timeScale);
  const check = (what: string, a: { status: number; body: unknown }) => {
    if (a.status >= 300) throw new Error(`${what}: HTTP ${a.status} ${JSON.stringify(a.body)}`);
  };
  check(
    "ARM settings",
    await lab.control("POST", "/lab/arm/settings", {
      frontDoorOperationMs: ms(l.frontDoorOperation),
      frontDoorDeploymentMs: ms(l.frontDoorDeployment),
      apimUpdateMs: ms(l.apimUpdate),
      lroRetryAfterSeconds: 0,
    }),
  );
  for (const [location, seconds] of [
    ["westeurope", l.frontDoorWest],
    ["eastus", l.frontDoorEast],
  ] as const) {
    check(
      `edge ${location}`,
      await lab.control("PUT", `/lab/edge/frontDoor/locations/${location}`, {
        propagationDelayMs: ms(seconds),
      }),
    );
  }
  // Kubernetes: the time from a Secret write to the ingress serving it, as a latency on Secret writes.
  await lab.control("DELETE", "/lab/faults?service=kubernetes");
  if (l.kubernetes > 0)
    check(
      "Kubernetes latency",
      await lab.control("POST", "/lab/faults", {
        service: "kubernetes",
        kind: "latency",
        match: "^(PUT|PATCH|POST) /api/v1/namespaces/[^/]+/secrets",
        latencyMs: ms(l.kubernetes),
      }),
    );
}

async function rotate(
  ctx: { lab: TestLab; host: Host; topology: BenchTopology; calls: LabCalls; runTimeoutMs: number },
  mode: "zero" | "realistic",
  n: number,
  timeScale: number,
): Promise<RotationRun> {
  const { lab, host, topology, calls } = ctx;
  await setLatencies(lab, ZERO, timeScale);
  const versions = await topology.newVersions(n);
  await setLatencies(lab, mode === "zero" ? ZERO : REALISTIC, timeScale);
  const mark = calls.mark();
  const ids = Array.from({ length: n }, (_, k) =>
    rotationInstanceId({ vaultName: VAULT, certificateName: benchNames(k + 1).certificate }),
  );
  const topLevel = new Set(ids);
  const t0 = Date.now();
  await pool(
    Array.from({ length: n }, (_, k) => k + 1),
    16,
    async (i) => {
      const certificate = benchNames(i).certificate;
      const a = await host.call("POST", "/api/rollouts", {
        vault: VAULT,
        certificate,
        version: versions.get(certificate),
      });
      if (a.status !== 202)
        throw new Error(`POST /api/rollouts ${certificate}: HTTP ${a.status} ${JSON.stringify(a.body)}`);
    },
  );
  const deadline = t0 + ctx.runTimeoutMs;
  let finished = false;
  let lastProgress = t0;
  while (Date.now() < deadline) {
    const unfinished = await host.unfinishedIds(`rotate:${VAULT}:bench-`);
    if (unfinished?.length === 0) {
      finished = true;
      break;
    }
    if (unfinished && Date.now() - lastProgress >= 15_000) {
      lastProgress = Date.now();
      const rollouts = unfinished.filter((id) => topLevel.has(id)).length;
      say(
        `[N=${n}] ${mode}: ${fmt((lastProgress - t0) / 1000)}: ${n - rollouts} of ${n} rollouts ended (${unfinished.length} instances running).`,
      );
    }
    // Every poll lists the running instances (a table scan in Azurite, a large answer from the host):
    // often while a batch is short, at most once a second later (at most 5% error on the wall time).
    await sleep(Math.min(1000, Math.max(250, (Date.now() - t0) / 20)));
  }
  const wallSeconds = (Date.now() - t0) / 1000;
  const counts = calls.countSince(mark);
  const outcomes = new Map<string, number>();
  const durations: number[] = [];
  const phases = new Map<string, number[]>();
  const failures = new Set<string>();
  for (const id of ids) {
    const status = await host.instance(id);
    const report = (status?.output ?? status?.customStatus) as RolloutReport | undefined;
    const running = !status || ["Running", "Pending"].includes(String(status.runtimeStatus));
    const key = running
      ? "still running"
      : report?.outcome
        ? `${report.outcome.state}${report.outcome.state === "Succeeded" ? "" : ` (${report.outcome.reason})`}`
        : String(status?.runtimeStatus);
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    if (!running && report?.outcome && report.outcome.state !== "Succeeded" && failures.size < 3)
      failures.add(`${report.outcome.reason}: ${report.outcome.message}`.slice(0, 600));
    if (report?.startedAt && report.finishedAt) {
      durations.push((Date.parse(report.finishedAt) - Date.parse(report.startedAt)) / 1000);
      let last = Date.parse(report.startedAt);
      const add = (phase: string, until: number) => {
        phases.set(phase, [...(phases.get(phase) ?? []), (until - last) / 1000]);
        last = until;
      };
      for (const stage of report.stages) {
        if (!stage.startedAt || !stage.finishedAt) continue;
        add(`before ${stage.stage}`, Date.parse(stage.startedAt));
        add(stage.stage, Date.parse(stage.finishedAt));
      }
      add("to the end", Date.parse(report.finishedAt));
    }
  }
  if (!finished) {
    // Let what still runs end on its own deadlines before the next batch starts: cancel it instead.
    for (const id of ids) await host.call("POST", `/api/rollouts/${encodeURIComponent(id)}/cancel`);
    const until = Date.now() + 60_000;
    while (Date.now() < until && (await host.unfinished(`rotate:${VAULT}:bench-`)) > 0) await sleep(500);
  }
  return {
    mode,
    n,
    timeScale,
    wallSeconds,
    finished,
    medianRolloutSeconds: median(durations),
    outcomes,
    phases: [...phases].map(([phase, values]) => [phase, median(values)]),
    failures: [...failures],
    calls: counts,
  };
}

async function driftScan(
  ctx: { host: Host; calls: LabCalls; lab: TestLab },
  certificates: number,
): Promise<ScanRun> {
  const { host, calls } = ctx;
  // The scan id is per minute: wait for a minute without a scan.
  while (await host.instance(driftScanInstanceId(new Date()))) await sleep(1000);
  const mark = calls.mark();
  const t0 = Date.now();
  const before = driftScanInstanceId(new Date());
  const a = await host.call("POST", "/admin/functions/driftRepair", {}, host.keys.master);
  if (a.status !== 202)
    throw new Error(`POST /admin/functions/driftRepair: HTTP ${a.status} ${JSON.stringify(a.body)}`);
  const after = driftScanInstanceId(new Date());
  let output: DriftScanOutput | undefined;
  const deadline = Date.now() + 300_000;
  while (!output && Date.now() < deadline) {
    for (const id of new Set([before, after])) {
      const s = await host.instance(id);
      if (s && s.runtimeStatus === "Completed" && (await host.unfinished("drift:")) === 0)
        output = s.output as DriftScanOutput;
      else if (s && ["Failed", "Terminated"].includes(String(s.runtimeStatus)))
        throw new Error(`The drift scan ${id} ended ${String(s.runtimeStatus)}: ${JSON.stringify(s.output)}`);
    }
    if (!output) await sleep(200);
  }
  if (!output) throw new Error("The drift scan did not finish within 300 s.");
  return {
    certificates,
    bindings: output.certificates.reduce((sum, c) => sum + c.bindings.length, 0),
    seconds: (Date.now() - t0) / 1000,
    calls: calls.countSince(mark),
    warnings: output.warnings.length,
  };
}

const fmt = (seconds: number) =>
  seconds >= 3600
    ? `${(seconds / 3600).toFixed(1)} h`
    : seconds >= 120
      ? `${(seconds / 60).toFixed(1)} min`
      : `${seconds.toFixed(1)} s`;
const pad = (s: string | number, n: number) => String(s).padEnd(n);
const lpad = (s: string | number, n: number) => String(s).padStart(n);

function printRotations(runs: RotationRun[]): void {
  const cp = criticalPath(REALISTIC);
  say(
    "\nRotation of N certificates x 3 targets (one Secret, one hostname on the shared APIM service, one Front Door domain each)",
  );
  say(
    `critical path of one certificate, realistic: ${fmt(cp)} (Kubernetes ${REALISTIC.kubernetes} s + APIM ${fmt(REALISTIC.apimUpdate)} + Front Door 2 x ${REALISTIC.frontDoorOperation} s + ${fmt(REALISTIC.frontDoorDeployment)} + ${fmt(REALISTIC.frontDoorEast)}); zero latency: 0 s`,
  );
  say(
    `${pad("latency", 10)}${lpad("N", 4)}${lpad("scale", 7)}${lpad("wall", 10)}${lpad("wall x scale", 14)}${lpad("median x scale", 16)}${lpad("ratio", 8)}  ${pad("APIM writes / certs on it", 27)}${lpad("409s", 5)}${lpad("ARM", 7)}${lpad("K8s", 6)}${lpad("KV", 6)}  outcomes`,
  );
  for (const r of runs) {
    const ratio =
      r.mode === "realistic" && r.finished ? `${((r.wallSeconds * r.timeScale) / cp).toFixed(2)}` : "-";
    const outcomes = [...r.outcomes.entries()].map(([k, v]) => `${v} ${k}`).join(", ");
    say(
      `${pad(r.mode, 10)}${lpad(r.n, 4)}${lpad(r.timeScale, 7)}${lpad(fmt(r.wallSeconds), 10)}${lpad(fmt(r.wallSeconds * r.timeScale), 14)}${lpad(fmt(r.medianRolloutSeconds * r.timeScale), 16)}${lpad(ratio, 8)}  ${pad(`${r.calls.apimServiceWrites} / ${r.n} rotated (${r.n + 1} bound)`, 27)}${lpad(r.calls.apimConflicts, 5)}${lpad(r.calls.arm, 7)}${lpad(r.calls.kubernetes, 6)}${lpad(r.calls.keyVault, 6)}  ${outcomes}${r.finished ? "" : ` [not finished after ${fmt(r.wallSeconds)}; cancelled]`}`,
    );
  }
  say(
    "wall: real time from the first POST /api/rollouts to the last rollout's end; wall x scale: the same in unscaled time;",
  );
  say(
    "median x scale: the median rollout's duration (its report's start to end), unscaled; ratio: wall x scale / critical path;",
  );
  say(
    "APIM writes: PATCH/PUT of the APIM service answered 2xx at the lab ARM; 409s: APIM service writes refused as busy;",
  );
  say("ARM, K8s, KV: every request the lab ARM, Kubernetes API and Key Vault answered during the batch.");
}

function printScans(scans: ScanRun[]): void {
  say("\nOne drift scan (report mode) against the number of bindings");
  say(
    `${lpad("certs", 6)}${lpad("bindings", 10)}${lpad("ARM", 7)}${lpad("K8s", 6)}${lpad("KV", 6)}${lpad("per binding", 13)}${lpad("time", 9)}`,
  );
  for (const s of scans) {
    const per = s.bindings
      ? ((s.calls.arm + s.calls.kubernetes + s.calls.keyVault) / s.bindings).toFixed(2)
      : "-";
    say(
      `${lpad(s.certificates, 6)}${lpad(s.bindings, 10)}${lpad(s.calls.arm, 7)}${lpad(s.calls.kubernetes, 6)}${lpad(s.calls.keyVault, 6)}${lpad(per, 13)}${lpad(fmt(s.seconds), 9)}${s.warnings ? `  (${s.warnings} discovery warnings)` : ""}`,
    );
  }
  say(
    "certs: all certificates in the lab (4 seeded + the benchmark's); per binding: (ARM + K8s + KV requests) / bindings.",
  );
}

/** Sets host.json's Durable concurrency limits in the app folder (unset: the project's host.json values). */
function overrideConcurrency(appDir: string, activities?: string, orchestrations?: string): void {
  if (activities === undefined && orchestrations === undefined) return;
  const file = join(appDir, "host.json");
  const hostJson = JSON.parse(readFileSync(file, "utf8")) as {
    extensions: { durableTask: Record<string, unknown> };
  };
  const limit = (name: string, value: string | undefined) => {
    if (value === undefined) return;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, not ${value}.`);
    return n;
  };
  const a = limit("max-activities", activities);
  const o = limit("max-orchestrations", orchestrations);
  if (a) hostJson.extensions.durableTask.maxConcurrentActivityFunctions = a;
  if (o) hostJson.extensions.durableTask.maxConcurrentOrchestratorFunctions = o;
  writeFileSync(file, JSON.stringify(hostJson, null, 2));
  say(
    `host.json: maxConcurrentActivityFunctions ${String(hostJson.extensions.durableTask.maxConcurrentActivityFunctions)}, maxConcurrentOrchestratorFunctions ${String(hostJson.extensions.durableTask.maxConcurrentOrchestratorFunctions)}.`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      counts: { type: "string", default: "1,10,100" },
      "time-scale": { type: "string", default: "300" },
      "zero-time-scale": { type: "string", default: "20" },
      "run-timeout": { type: "string", default: "300" },
      budget: { type: "string", default: "570" },
      modes: { type: "string", default: "zero,realistic" },
      "host-cpu-prof": { type: "string" },
      "max-activities": { type: "string" },
      "max-orchestrations": { type: "string" },
    },
    strict: true,
  });
  const counts = (values.counts ?? "")
    .split(",")
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  const realScale = Number(values["time-scale"]);
  const zeroScale = Number(values["zero-time-scale"]);
  const runTimeoutMs = Number(values["run-timeout"]) * 1000;
  const budgetMs = Number(values.budget) * 1000;
  const modes = (values.modes ?? "")
    .split(",")
    .filter((m): m is "zero" | "realistic" => m === "zero" || m === "realistic");
  const profileDir = values["host-cpu-prof"] ? resolve(values["host-cpu-prof"]) : undefined;
  if (
    !counts.length ||
    !(realScale > 0) ||
    !(zeroScale > 0) ||
    !(runTimeoutMs > 0) ||
    !(budgetMs > 0) ||
    !modes.length
  )
    throw new Error(
      "Usage: --counts 1,10,100 --time-scale 300 --zero-time-scale 20 --run-timeout 300 --budget 570 --modes zero,realistic [--host-cpu-prof DIR]",
    );

  const began = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "bench-rollout-"));
  let lab: TestLab | undefined;
  let azurite: AzuriteHandle | undefined;
  let host: Host | undefined;
  const runs: RotationRun[] = [];
  const scans: ScanRun[] = [];
  const notes: string[] = [];
  let stopRotating: string | undefined;
  try {
    say("Starting the lab, Azurite and the local host with the app…");
    lab = await startTestLab({ stateDir: join(dir, "lab") });
    azurite = await startTestAzurite();
    const calls = new LabCalls(lab);
    const kvSettings = await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 0 });
    if (kvSettings.status >= 300) throw new Error(`Key Vault settings: ${JSON.stringify(kvSettings.body)}`);
    await setLatencies(lab, ZERO, 1);
    const topology = new BenchTopology(lab);

    // Probes reach every benchmark host name at its hop, whether it exists yet or not.
    const edge = lab.endpoints.edge as {
      frontDoor: Record<string, { address: string }>;
      apim: string;
      ingress: string;
    };
    const frontDoor = Object.values(edge.frontDoor)
      .map((l) => l.address)
      .join("|");
    const max = Math.max(...counts);
    const overrides = [labProbeHostOverrides(lab)];
    for (let i = 1; i <= max; i++) {
      const n = benchNames(i);
      overrides.push(
        `${n.frontDoorHost}=${frontDoor}`,
        `${n.apimHost}=${edge.apim}`,
        `${n.ingressHost}=${edge.ingress}`,
      );
    }
    const settings = labSettings(lab, {
      storageConnectionString: azurite.connectionString,
      overrides: { ...APP_SETTINGS, PROBE_HOST_OVERRIDES: overrides.join(",") },
    });
    for (const name of PRODUCT_DEFAULTS) delete settings[name];
    const appDir = writeAppDir(join(dir, "app"));
    overrideConcurrency(appDir, values["max-activities"], values["max-orchestrations"]);
    host = new Host(
      appDir,
      join(dir, "host"),
      { ...lab.endpoints.env, ...settings },
      profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
    );
    let scale = 0;
    const useScale = async (s: number) => {
      if (scale === s) return;
      await host!.start(s);
      scale = s;
    };
    say(`Lab, Azurite and host ready after ${fmt((Date.now() - began) / 1000)}.`);

    for (const n of counts) {
      const t = Date.now();
      await setLatencies(lab, ZERO, 1);
      await topology.growTo(n);
      say(
        `\n[N=${n}] ${n} benchmark certificate(s) with 3 bindings each in the lab (setup ${fmt((Date.now() - t) / 1000)}).`,
      );
      // The scan first, while every binding is in sync and nothing else calls the lab.
      await setLatencies(lab, ZERO, 1);
      await useScale(scale || (modes[0] === "realistic" ? realScale : zeroScale));
      const scan = await driftScan({ host, calls, lab }, n + 4);
      scans.push(scan);
      say(
        `[N=${n}] drift scan: ${scan.bindings} bindings, ARM ${scan.calls.arm}, K8s ${scan.calls.kubernetes}, KV ${scan.calls.keyVault} requests.`,
      );
      const order = (
        scale === realScale ? (["realistic", "zero"] as const) : (["zero", "realistic"] as const)
      ).filter((m) => modes.includes(m));
      for (const mode of order) {
        const left = budgetMs - (Date.now() - began);
        if (stopRotating || left < 60_000) {
          const why = stopRotating ?? `the ${fmt(budgetMs / 1000)} budget is spent`;
          notes.push(`N=${n} ${mode}: not run: ${why}.`);
          say(`[N=${n}] ${mode}: not run: ${why}.`);
          continue;
        }
        await useScale(mode === "zero" ? zeroScale : realScale);
        const timeoutMs = Math.min(runTimeoutMs, left - 45_000);
        say(
          `[N=${n}] rotating with ${mode} latency (time scale ${scale}, at most ${fmt(timeoutMs / 1000)})…`,
        );
        const run = await rotate({ lab, host, topology, calls, runTimeoutMs: timeoutMs }, mode, n, scale);
        runs.push(run);
        say(
          `[N=${n}] ${mode}: ${fmt(run.wallSeconds)} wall, ${[...run.outcomes.entries()].map(([k, v]) => `${v} ${k}`).join(", ")}; ${run.calls.apimServiceWrites} APIM service writes, ${run.calls.apimConflicts} refused.`,
        );
        say(
          `[N=${n}] ${mode}: median phases x scale: ${run.phases.map(([phase, seconds]) => `${phase} ${fmt(seconds * run.timeScale)}`).join(", ")}.`,
        );
        for (const f of run.failures) say(`[N=${n}] ${mode}: not succeeded: ${f}`);
        for (const f of run.failures) notes.push(`N=${n} ${mode}, a rollout that did not succeed: ${f}`);
        if (!run.finished) {
          const done = [...run.outcomes.entries()]
            .filter(([k]) => k !== "still running")
            .reduce((sum, [, v]) => sum + v, 0);
          stopRotating = `the N=${n} ${mode} batch did not finish within ${fmt(timeoutMs / 1000)} of real time (${done} of ${n} rollouts had ended; the rest were cancelled)`;
          notes.push(`N=${n} ${mode}: ${stopRotating}.`);
        }
      }
    }
  } catch (error) {
    notes.push(`The benchmark stopped early: ${error instanceof Error ? error.message : String(error)}`);
    if (host) notes.push(`Host log tail:\n${host.tail(2000)}`);
  } finally {
    if (runs.length) printRotations(runs);
    if (scans.length) printScans(scans);
    for (const note of notes) say(`\nNOTE: ${note}`);
    say(`\nTotal ${fmt((Date.now() - began) / 1000)}.`);
    await host?.stop().catch(() => undefined);
    await lab?.dispose().catch(() => undefined);
    await azurite?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  if (notes.some((n) => n.startsWith("The benchmark stopped early"))) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
