/**
 * Azurite, the Azure Storage emulator that `AzureWebJobsStorage=UseDevelopmentStorage=true` means.
 * {@link ensureAzurite} reuses one already listening on 127.0.0.1:10000-10002, or starts the npm package's
 * Azurite as a child process with its data in a local folder; tests can ask for a private instance on
 * ephemeral ports and pass its connection string to the host.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";

/** The well-known development storage account (public, documented for Azurite; not a secret). */
export const devStoreAccount = "devstoreaccount1";
const devStoreKey =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const defaultPorts = { blob: 10000, queue: 10001, table: 10002 };

/** Options of {@link ensureAzurite}. */
export interface EnsureAzuriteOptions {
  /** Folder for Azurite's data (created if missing), e.g. `<project>/.azurite`. */
  location: string;
  /**
   * "default" (the default): reuse an Azurite on 127.0.0.1:10000-10002 or start one there.
   * "ephemeral": always start a private Azurite on free ports.
   */
  ports?: "default" | "ephemeral";
  /** Milliseconds to wait for Azurite to listen. Default 30000. */
  startTimeoutMs?: number;
  /** Receives Azurite's own output lines (default: dropped). */
  onOutput?: (line: string) => void;
}

/** A running Azurite. */
export interface AzuriteHandle {
  blobEndpoint: string;
  queueEndpoint: string;
  tableEndpoint: string;
  /** A full connection string for these endpoints (works with every Azure Storage SDK). */
  connectionString: string;
  /** What `AzureWebJobsStorage` should be: `UseDevelopmentStorage=true` on the default ports, else {@link connectionString}. */
  storageSetting: string;
  /** Whether this call started it (false when an Azurite was already listening). */
  started: boolean;
  /** Stops it if this call started it (saving its data); otherwise does nothing. */
  stop(): Promise<void>;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function handleFor(
  ports: { blob: number; queue: number; table: number },
  isDefault: boolean,
  started: boolean,
  stop: () => Promise<void>,
): AzuriteHandle {
  const blobEndpoint = `http://127.0.0.1:${ports.blob}/${devStoreAccount}`;
  const queueEndpoint = `http://127.0.0.1:${ports.queue}/${devStoreAccount}`;
  const tableEndpoint = `http://127.0.0.1:${ports.table}/${devStoreAccount}`;
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${devStoreAccount};AccountKey=${devStoreKey};` +
    `BlobEndpoint=${blobEndpoint};QueueEndpoint=${queueEndpoint};TableEndpoint=${tableEndpoint};`;
  return {
    blobEndpoint,
    queueEndpoint,
    tableEndpoint,
    connectionString,
    storageSetting: isDefault ? "UseDevelopmentStorage=true" : connectionString,
    started,
    stop,
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  child.ref(); // unref'd while running; keep this process alive until the child has exited
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGINT");
  });
}

/**
 * Makes sure an Azurite serves blobs, queues and tables, and answers where. With `ports: "default"`, an
 * Azurite already listening on 10000-10002 is reused (`started: false`); if only some of those ports are
 * taken, it throws naming them. Otherwise it starts `azurite` from node_modules with data under `location`.
 */
export async function ensureAzurite(options: EnsureAzuriteOptions | string): Promise<AzuriteHandle> {
  const opts: EnsureAzuriteOptions = typeof options === "string" ? { location: options } : options;
  const ephemeral = opts.ports === "ephemeral";
  if (!ephemeral) {
    const busy = await Promise.all(Object.values(defaultPorts).map(listening));
    if (busy.every(Boolean)) return handleFor(defaultPorts, true, false, async () => {});
    if (busy.some(Boolean)) {
      const taken = Object.values(defaultPorts).filter((_, i) => busy[i]);
      throw new Error(
        `Ports ${taken.join(", ")} are in use but not all of 10000-10002: cannot start Azurite there.`,
      );
    }
  }
  mkdirSync(opts.location, { recursive: true });
  const requested = ephemeral ? { blob: 0, queue: 0, table: 0 } : defaultPorts;
  const args = [
    fileURLToPath(new URL("./azuriteChild.js", import.meta.url)),
    "--location",
    opts.location,
    "--blobHost",
    "127.0.0.1",
    "--queueHost",
    "127.0.0.1",
    "--tableHost",
    "127.0.0.1",
    "--blobPort",
    String(requested.blob),
    "--queuePort",
    String(requested.queue),
    "--tablePort",
    String(requested.table),
    "--silent",
    "--skipApiVersionCheck",
    "--loose",
    "--disableTelemetry",
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe", "ipc"] });
  const ports: Partial<Record<"blob" | "queue" | "table", number>> = {};
  let output = "";
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`Azurite did not start within ${timeoutMs} ms. Output:\n${output}`)),
      timeoutMs,
    );
    function fail(err: Error): void {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(err);
    }
    const onLine = (line: string): void => {
      opts.onOutput?.(line);
      const m = /Azurite (Blob|Queue|Table) service is successfully listening at https?:\/\/[^:]+:(\d+)/.exec(
        line,
      );
      if (m) {
        ports[(m[1] as string).toLowerCase() as "blob" | "queue" | "table"] = Number(m[2]);
        if (ports.blob && ports.queue && ports.table) {
          clearTimeout(timer);
          resolve();
        }
      }
    };
    let pending = "";
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      lines.forEach(onLine);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) =>
      fail(new Error(`Azurite exited with code ${String(code)} while starting. Output:\n${output}`)),
    );
  });
  child.removeAllListeners("exit");
  // Keep draining output so the child never blocks on a full pipe.
  child.stdout?.removeAllListeners("data").on("data", (c: Buffer) => opts.onOutput?.(c.toString()));
  child.stderr?.removeAllListeners("data").on("data", (c: Buffer) => opts.onOutput?.(c.toString()));
  child.unref();
  child.channel?.unref();
  for (const stream of [child.stdout, child.stderr])
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  const resolved = { blob: ports.blob ?? 0, queue: ports.queue ?? 0, table: ports.table ?? 0 };
  return handleFor(resolved, !ephemeral, true, () => stopChild(child));
}
