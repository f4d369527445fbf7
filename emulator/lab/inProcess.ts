/**
 * Starts the lab in-process for a test: ephemeral ports, a temporary state folder, every service.
 * Also points this process at it (CA trust, managed identity variables, *.localhost resolution).
 */
import "./localhostResolver.js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { startLab, type Lab } from "./core/lab.js";
import { labServices } from "./services.js";

export interface TestLab extends Lab {
  stateDir: string;
  /**
   * Calls the lab control API. `T` is the JSON body the caller expects (not checked; `unknown` unless
   * named), undefined when the answer has no body.
   */
  control<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Stops the lab (once; later calls wait for that stop) and removes its state folder (unless `keepState`). */
  dispose(options?: { keepState?: boolean }): Promise<void>;
}

let caInstalled: string | undefined;

/** Makes Node's default TLS trust (https, fetch, the SDKs) include the lab root, as NODE_EXTRA_CA_CERTS would. */
export function trustLabCa(caCertPath: string): void {
  if (caInstalled === caCertPath) return;
  const ca = readFileSync(caCertPath, "utf8");
  const setDefault = (tls as unknown as { setDefaultCACertificates?: (certs: string[]) => void })
    .setDefaultCACertificates;
  if (!setDefault) throw new Error("This Node.js lacks tls.setDefaultCACertificates (needs Node 22.15+).");
  setDefault([...tls.getCACertificates("default"), ca]);
  caInstalled = caCertPath;
}

export async function startTestLab(options: { stateDir?: string } = {}): Promise<TestLab> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "lab-"));
  let lab: Lab;
  try {
    lab = await startLab({
      stateDir,
      ports: "ephemeral",
      services: labServices({ ephemeralPorts: true }),
      log: () => {},
    });
  } catch (error) {
    // A folder this call made is not left behind by a lab that never started.
    if (!options.stateDir) rmSync(stateDir, { recursive: true, force: true });
    throw error;
  }
  trustLabCa(lab.endpoints.env.NODE_EXTRA_CA_CERTS!);
  for (const [k, v] of Object.entries(lab.endpoints.env)) {
    if (k !== "NODE_OPTIONS") process.env[k] = v;
  }
  const controlUrl = lab.ctx.servers.control.url;
  let stopped: Promise<void> | undefined;
  return {
    ...lab,
    stateDir,
    async control<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(`${controlUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
    },
    async dispose(opts) {
      // Idempotent: a test that restarts the lab on the same folder may fail before it has a new one,
      // and the file's after() then disposes the old one again.
      stopped ??= lab.stop();
      await stopped;
      if (!opts?.keepState) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
