/**
 * Composition of the lab: PKI, clock, identity, faults, state and the shared HTTPS servers; lab
 * services plug into it. Services never import each other; they talk through the `registry`
 * (in-process APIs such as "keyvault") and the `bus`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { LabAuth, type AuthState } from "./auth.js";
import { LabBus } from "./bus.js";
import { LabClock } from "./clock.js";
import { FaultRegistry } from "./faults.js";
import { Router, listenHttps, type RunningServer } from "./http.js";
import { LabPki } from "./pki.js";
import { StateStore } from "./store.js";
import { SEED, type SeedTopology } from "../seed.js";

/** The shared servers. Each is HTTPS on 127.0.0.1 with a certificate from the lab root. */
export type ServerName = "control" | "arm" | "keyVault" | "kubernetes" | "eventGrid";

/** Default ports of `npm run lab`; tests pass `ports: "ephemeral"`. */
export const DEFAULT_PORTS: Record<ServerName, number> = {
  control: 8440,
  arm: 8441,
  keyVault: 8442,
  kubernetes: 8443,
  eventGrid: 8444,
};

const SERVER_NAMES: Record<ServerName, string[]> = {
  control: ["127.0.0.1", "localhost", "lab.localhost"],
  arm: ["127.0.0.1", "localhost", "management.localhost"],
  keyVault: ["127.0.0.1", "*.vault.localhost", "vault.localhost"],
  kubernetes: ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
  eventGrid: ["127.0.0.1", "localhost", "*.eventgrid.localhost"],
};

export interface LabServer {
  router: Router;
  url: string;
  port: number;
}

export interface LabContext {
  stateDir: string;
  seed: SeedTopology;
  pki: LabPki;
  clock: LabClock;
  auth: LabAuth;
  faults: FaultRegistry;
  bus: LabBus;
  store: StateStore;
  servers: Record<ServerName, LabServer>;
  /** Merged into `.lab/endpoints.json`. */
  endpoints: Record<string, unknown>;
  /** Environment variables that point a process at the lab; merged into `endpoints.json` `env`. */
  env: Record<string, string>;
  /** In-process APIs services offer each other, by service name. */
  registry: Map<string, unknown>;
  /** Runs when the lab stops (servers close after). */
  onStop(fn: () => Promise<void> | void): void;
  log: (message: string) => void;
}

/** A lab service: registers routes and seeds its state on start. */
export interface LabService {
  readonly name: string;
  start(ctx: LabContext): Promise<void> | void;
}

export interface LabOptions {
  stateDir: string;
  ports?: Partial<Record<ServerName, number>> | "ephemeral";
  services: LabService[];
  seed?: SeedTopology;
  log?: (message: string) => void;
}

export interface Lab {
  ctx: LabContext;
  endpoints: Record<string, unknown> & { env: Record<string, string> };
  /** Path of the written endpoints.json. */
  endpointsFile: string;
  stop(): Promise<void>;
}

/** Path of the compiled localhost resolver preload (dist/emulator/lab/localhostResolver.js). */
export const resolverPreloadPath = (): string =>
  fileURLToPath(new URL("../localhostResolver.js", import.meta.url));

export async function startLab(options: LabOptions): Promise<Lab> {
  const stateDir = resolve(options.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const seed = options.seed ?? SEED;
  const store = new StateStore(join(stateDir, "state"));
  const clockState = store.load("clock", () => ({ offsetMs: 0 }));
  const clock = new LabClock(clockState.offsetMs, (offsetMs) => store.save("clock", { offsetMs }));
  const pki = await LabPki.open(stateDir);
  const authState = store.load<AuthState>("auth", () =>
    LabAuth.newState(
      seed.tenantId,
      Object.values(seed.identities).map((i) => ({ ...i })),
    ),
  );
  const auth = new LabAuth(authState, (s) => store.save("auth", s));
  store.save("auth", authState);

  const running: RunningServer[] = [];
  const servers = {} as Record<ServerName, LabServer>;
  for (const name of Object.keys(SERVER_NAMES) as ServerName[]) {
    const tls = await pki.serverCertificate(SERVER_NAMES[name]);
    const router = new Router({ caseInsensitive: name === "arm" });
    const port = options.ports === "ephemeral" ? 0 : (options.ports?.[name] ?? DEFAULT_PORTS[name]);
    const server = await listenHttps({ cert: tls.chainPem, key: tls.keyPem }, router.listener, port);
    running.push(server);
    servers[name] = { router, url: server.url, port: server.port };
  }

  const stopHooks: Array<() => Promise<void> | void> = [];
  const log = options.log ?? ((m: string) => console.log(`[lab] ${m}`));
  const ctx: LabContext = {
    stateDir,
    seed,
    pki,
    clock,
    auth,
    faults: new FaultRegistry(),
    bus: new LabBus(),
    store,
    servers,
    endpoints: {
      tenantId: seed.tenantId,
      subscriptionId: seed.subscriptionId,
      resourceGroup: seed.resourceGroup,
      caCert: pki.caCertPath,
      control: servers.control.url,
    },
    env: {
      NODE_EXTRA_CA_CERTS: pki.caCertPath,
      SSL_CERT_FILE: pki.caCertPath,
      AZURE_TENANT_ID: seed.tenantId,
      NODE_OPTIONS: `--import=${pathToFileURL(resolverPreloadPath()).href}`,
    },
    registry: new Map(),
    onStop: (fn) => stopHooks.push(fn),
    log,
  };

  // Stops what has started, once: services' hooks newest first, then the servers.
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const fn of stopHooks.reverse()) await fn();
      await Promise.all(running.map((s) => s.close()));
      store.close();
    })());

  try {
    for (const service of options.services) {
      await service.start(ctx);
    }
  } catch (error) {
    // A service that fails to start must not leave the others listening.
    await stop().catch(() => undefined);
    throw error;
  }

  const endpoints = { ...ctx.endpoints, env: { ...ctx.env } };
  const endpointsFile = join(stateDir, "endpoints.json");
  writeFileSync(endpointsFile, JSON.stringify(endpoints, null, 2));
  return { ctx, endpoints, endpointsFile, stop };
}
