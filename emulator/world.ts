/**
 * The end-to-end world: the lab (in this process), a private Azurite, and the local Functions host
 * running our app as a child process (so a test can kill it), wired the way Azure is: the lab's
 * Key Vault system topic delivers to the host's Event Grid webhook, the app's settings point at the
 * lab, probes reach the lab's TLS hops. Helpers observe the world the way a person would: real TLS
 * handshakes at each hop, the app's HTTP API, the host's log.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { DefaultAzureCredential } from "@azure/identity";
import { CertificateClient } from "@azure/keyvault-certificates";
import type { AzuriteHandle } from "./host/azurite.js";
import type { RolloutReport } from "../src/domain/report.js";
import { startTestLab, type TestLab } from "./lab/inProcess.js";
import { labSettings, startTestAzurite } from "./lab/appSettings.js";

/** Options of {@link startWorld}. */
export interface WorldOptions {
  /** Host time scale: durable timers fire after delay / timeScale. Default 20. */
  timeScale?: number;
  /** App settings to add or replace. */
  settings?: Record<string, string>;
  /** Propagation delay of every Front Door edge location, ms. Default 300. */
  frontDoorDelayMs?: number;
  /** Subscribe the host to the lab vault's events. Default true. */
  subscribeEvents?: boolean;
  /**
   * Host names the test will add to the lab (an Ingress host, an APIM hostname, a Front Door custom
   * domain) → the hop serving them: added to `PROBE_HOST_OVERRIDES` (every Front Door location for
   * `frontDoor`), so the app's probes and {@link World.served} reach them. Default none.
   */
  probeHosts?: Record<string, "frontDoor" | "apim" | "ingress">;
}

/** An HTTP answer of the app. */
export interface ApiAnswer {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

/** A running world. */
export interface World {
  lab: TestLab;
  azurite: AzuriteHandle;
  settings: Record<string, string>;
  baseUrl: string;
  keys: { master: string; host: string; eventGrid: string; durable: string };
  vaultUrl: string;
  certificates: CertificateClient;
  /** Calls the app's HTTP API with the host key. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer>;
  /** The Durable status of an instance (with history when asked). */
  status(instanceId: string, options?: { history?: boolean }): Promise<Record<string, unknown> | undefined>;
  /** Polls until the instance is no longer running; returns its final report (the output). */
  waitForRollout(instanceId: string, timeoutMs?: number): Promise<RolloutReport>;
  /** Polls until `check` answers a value. */
  waitFor<T>(
    what: string,
    check: () => Promise<T | undefined> | T | undefined,
    timeoutMs?: number,
  ): Promise<T>;
  /** SHA-1 thumbprints (uppercase hex) each address of a host presents in a real handshake. */
  served(hostName: string): Promise<string[]>;
  /** One HTTPS request through the whole chain (Front Door edge → APIM → ingress → backend). */
  requestThroughChain(
    path?: string,
  ): Promise<{ ok: boolean; status?: number; error?: string; body?: unknown }>;
  /** Publishes a Key Vault event through the lab's Event Grid system topic. */
  emitKeyVaultEvent(
    type: "CertificateNearExpiry" | "CertificateExpired" | "CertificateNewVersionCreated",
    certificateName: string,
    version: string,
    options?: { id?: string; eventTime?: Date },
  ): Promise<string>;
  /** Every line the host wrote, stdout and stderr, across restarts. */
  logs(): string;
  /** Kills the host process (SIGKILL: no shutdown). */
  killHost(): Promise<void>;
  /** Starts the host again on the same port, state and storage. */
  startHost(): Promise<void>;
  stop(): Promise<void>;
}

/** The compiled output folder this file runs from (dist-*), and the repository root. */
const distRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = (): string => {
  let dir = distRoot;
  while (!existsSync(join(dir, "host.json")) || !existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No repository root above ${distRoot}.`);
    dir = parent;
  }
  return dir;
};

/** An app folder whose package.json `main` loads the compiled functions next to this file. */
export function writeAppDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(repoRoot(), "host.json"), join(dir, "host.json"));
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "e2e-cert-rotation-app", type: "module", main: `${distRoot}/functions/*.js` }),
  );
  return dir;
}

/** Default settings of the e2e world: short deadlines (in orchestration seconds; the host scales time). */
export const E2E_SETTINGS: Record<string, string> = {
  PROBE_INTERVAL_SECONDS: "2",
  PROBE_DEADLINE_KUBERNETES_SECONDS: "120",
  PROBE_DEADLINE_APIM_SECONDS: "240",
  PROBE_DEADLINE_FRONT_DOOR_SECONDS: "240",
  RENEWAL_DEADLINE_SECONDS: "600",
  DRIFT_SCHEDULE: "0 0 0 1 1 *",
  DRIFT_JITTER_SECONDS: "0",
  DRIFT_MODE: "repair",
  PREFLIGHT_MIN_VALIDITY_DAYS: "30",
  TIME_SCALE: "1",
};

/** Starts lab, Azurite and host; subscribes the host to the vault's events. */
export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), "e2e-world-"));
  const lab = await startTestLab({ stateDir: join(dir, "lab") });
  const azurite = await startTestAzurite();
  const timeScale = options.timeScale ?? 20;
  for (const location of ["westeurope", "eastus"]) {
    await lab.control("PUT", `/lab/edge/frontDoor/locations/${location}`, {
      propagationDelayMs: options.frontDoorDelayMs ?? 300,
    });
  }
  const settings = labSettings(lab, {
    storageConnectionString: azurite.connectionString,
    overrides: { ...E2E_SETTINGS, ...options.settings },
  });
  const extraHosts = Object.entries(options.probeHosts ?? {});
  if (extraHosts.length > 0) {
    const edge = lab.endpoints.edge as {
      frontDoor: Record<string, { address: string }>;
      apim: string;
      ingress: string;
    };
    const frontDoor = Object.values(edge.frontDoor).map((l) => l.address);
    const added = extraHosts.map(
      ([host, hop]) => `${host}=${(hop === "frontDoor" ? frontDoor : [edge[hop]]).join("|")}`,
    );
    settings.PROBE_HOST_OVERRIDES = [settings.PROBE_HOST_OVERRIDES, ...added].filter(Boolean).join(",");
  }
  const appDir = writeAppDir(join(dir, "app"));
  const stateDir = join(dir, "host");
  mkdirSync(stateDir, { recursive: true });
  const key = () => randomBytes(24).toString("base64url");
  const keys = { master: key(), host: key(), eventGrid: key(), durable: key() };
  writeFileSync(
    join(stateDir, "keys.json"),
    JSON.stringify({
      masterKey: keys.master,
      hostKeys: { default: keys.host },
      functionKeys: {},
      systemKeys: { eventgrid_extension: keys.eventGrid, durabletask_extension: keys.durable },
    }),
  );

  let logText = "";
  let child: ChildProcess | undefined;
  let port = 0;
  let baseUrl = "";
  const hostMain = join(distRoot, "emulator", "host", "main.js");
  const launch = async (): Promise<void> => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    Object.assign(env, lab.endpoints.env, settings);
    const proc = spawn(
      process.execPath,
      [
        hostMain,
        "--app",
        appDir,
        "--port",
        String(port),
        "--state-dir",
        stateDir,
        "--time-scale",
        String(timeScale),
        "--no-azurite",
      ],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    const started = new Promise<string>((resolveStart, rejectStart) => {
      const onData = (chunk: Buffer) => {
        logText += chunk.toString();
        const m = /Host started at (http:\/\/127\.0\.0\.1:(\d+))/.exec(logText.slice(-4000));
        if (m) resolveStart(m[1] as string);
      };
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", onData);
      proc.once("exit", (code) =>
        rejectStart(new Error(`The host exited with ${code} before it started:\n${logText.slice(-3000)}`)),
      );
    });
    baseUrl = await withTimeout(started, 30_000, "the host to start");
    port = Number(new URL(baseUrl).port);
  };
  await launch();

  const vaults = (lab.endpoints as unknown as { keyVault: { vaults: Record<string, { url: string }> } })
    .keyVault.vaults;
  const vaultUrl = (Object.values(vaults)[0]?.url ?? "").replace(/\/+$/, "");
  const certificates = new CertificateClient(vaultUrl, new DefaultAzureCredential());

  if (options.subscribeEvents ?? true) {
    const answer = await lab.control("POST", "/lab/eventgrid/subscriptions", {
      name: "control-plane",
      endpointUrl: `${baseUrl}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${keys.eventGrid}`,
      schema: "EventGridSchema",
      maxDeliveryAttempts: 30,
    });
    if (answer.status >= 300)
      throw new Error(`Subscribing to the vault's events failed: ${JSON.stringify(answer.body)}`);
  }

  const waitFor = async <T>(
    what: string,
    check: () => Promise<T | undefined> | T | undefined,
    timeoutMs = 60_000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await check();
        if (v !== undefined) return v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline)
        throw new Error(
          `Timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        "x-functions-key": keys.host,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      // plain text
    }
    return { status: res.status, headers: res.headers, text, body: parsed };
  };

  const status = async (instanceId: string, opts: { history?: boolean } = {}) => {
    const q = opts.history ? "&showHistory=true&showHistoryOutput=true&showInput=true" : "";
    const res = await fetch(
      `${baseUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}?code=${keys.durable}${q}`,
    );
    if (res.status === 404) return undefined;
    return (await res.json()) as Record<string, unknown>;
  };

  const overrides = new Map<string, { host: string; port: number }[]>();
  for (const entry of settings.PROBE_HOST_OVERRIDES?.split(",") ?? []) {
    const [host, targets] = entry.split("=");
    if (!host || !targets) continue;
    overrides.set(
      host.toLowerCase(),
      targets.split("|").map((t) => {
        const i = t.lastIndexOf(":");
        return { host: t.slice(0, i), port: Number(t.slice(i + 1)) };
      }),
    );
  }
  const addresses = (hostName: string) => {
    const a = overrides.get(hostName.toLowerCase());
    if (!a) throw new Error(`The lab serves no host ${hostName}.`);
    return a;
  };

  const world: World = {
    lab,
    azurite,
    settings,
    get baseUrl() {
      return baseUrl;
    },
    keys,
    vaultUrl,
    certificates,
    api,
    status,
    waitFor,
    async waitForRollout(instanceId, timeoutMs = 120_000) {
      const s = await waitFor(
        `rollout ${instanceId} to end`,
        async () => {
          const st = await status(instanceId);
          return st &&
            !["Running", "Pending", "ContinuedAsNew", "Suspended"].includes(String(st.runtimeStatus))
            ? st
            : undefined;
        },
        timeoutMs,
      );
      if (s.runtimeStatus !== "Completed")
        throw new Error(
          `Rollout ${instanceId} ended ${String(s.runtimeStatus)}: ${JSON.stringify(s.output)}`,
        );
      return s.output as RolloutReport;
    },
    async served(hostName) {
      return Promise.all(addresses(hostName).map((a) => handshakeThumbprint(a.host, a.port, hostName)));
    },
    async requestThroughChain(path = "/health") {
      const a = addresses("api.contoso.test")[0]!;
      return new Promise((done) => {
        const req = https.request(
          {
            host: a.host,
            port: a.port,
            servername: "api.contoso.test",
            path,
            method: "GET",
            headers: { host: "api.contoso.test" },
            timeout: 5000,
            agent: false,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString();
              let body: unknown = text;
              try {
                body = JSON.parse(text) as unknown;
              } catch {
                // not JSON
              }
              const status = res.statusCode ?? 0;
              done({ ok: status >= 200 && status < 300, status, body });
            });
          },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (e) => done({ ok: false, error: e.message }));
        req.end();
      });
    },
    async emitKeyVaultEvent(type, certificateName, version, opts = {}) {
      const id = opts.id ?? randomUUID();
      const cert = await certificates.getCertificateVersion(certificateName, version);
      const epoch = (d: Date | undefined) => (d ? Math.floor(d.getTime() / 1000) : undefined);
      const topic = (lab.endpoints as unknown as { eventGrid: { systemTopic: { source: string } } }).eventGrid
        .systemTopic.source;
      lab.ctx.bus.emit("keyvault.event", {
        id,
        topic,
        subject: certificateName,
        eventType: `Microsoft.KeyVault.${type}`,
        eventTime: (opts.eventTime ?? new Date()).toISOString(),
        data: {
          Id: `${vaultUrl}/certificates/${certificateName}/${version}`,
          VaultName: new URL(vaultUrl).hostname.split(".")[0],
          ObjectType: "Certificate",
          ObjectName: certificateName,
          Version: version,
          NBF: epoch(cert.properties.notBefore),
          EXP: epoch(cert.properties.expiresOn),
        },
        dataVersion: "1",
        metadataVersion: "1",
      });
      return id;
    },
    logs: () => logText,
    async killHost() {
      const proc = child;
      if (!proc || proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGKILL");
      await exited;
    },
    startHost: launch,
    async stop() {
      const proc = child;
      if (proc && proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await withTimeout(exited, 10_000, "the host to stop").catch(() => proc.kill("SIGKILL"));
      }
      await lab.dispose();
      await azurite.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** The SHA-1 thumbprint (uppercase hex) of the leaf a TLS endpoint presents for `servername`. */
export function handshakeThumbprint(host: string, port: number, servername: string): Promise<string> {
  return new Promise((done, fail) => {
    const socket = tls.connect({ host, port, servername, rejectUnauthorized: false, timeout: 5000 }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint ?? "";
      socket.destroy();
      done(fingerprint.replace(/:/g, "").toUpperCase());
    });
    socket.on("timeout", () =>
      socket.destroy(new Error(`Handshake with ${servername} at ${host}:${port} timed out.`)),
    );
    socket.on("error", fail);
  });
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}.`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
