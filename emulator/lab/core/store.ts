/**
 * Lab state persisted under the state folder: one JSON document per service, written atomically
 * (a temporary file renamed over the old one), so `npm run lab` restarts with the same world.
 *
 * Writes are behind by at most `writeDelayMs` (default 25 ms): a service saves its whole state after
 * every request it handles, reads included, and with a large world (a hundred certificates bound three
 * times) serialising and writing documents that many times was most of the lab's time. A save marks
 * the document; the write serialises its state as it is then, and only when it differs from the text
 * last written. `flush()` writes what is pending now, `close()` too when the lab stops; and every store
 * flushes when the process exits (a process killed outright loses at most the last few milliseconds).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Options of {@link StateStore}. */
export interface StateStoreOptions {
  /** How long a saved change may wait before its document is written, ms; 0 writes at once. Default 25. */
  writeDelayMs?: number;
}

/** Stores with writes pending, flushed when the process exits. */
const pendingStores = new Set<StateStore>();
let exitHook = false;

export class StateStore {
  /** The text last written (or loaded) per document. */
  private readonly written = new Map<string, string>();
  /** Documents saved but not yet written: name → the state to serialise. */
  private readonly pending = new Map<string, unknown>();
  private timer: NodeJS.Timeout | undefined;
  private writeDelayMs: number;

  constructor(
    readonly dir: string,
    options: StateStoreOptions = {},
  ) {
    mkdirSync(dir, { recursive: true });
    this.writeDelayMs = options.writeDelayMs ?? 25;
  }

  /** True when the document exists (services seed only when it did not). */
  has(name: string): boolean {
    return this.pending.has(name) || existsSync(this.file(name));
  }

  load<T>(name: string, fallback: () => T): T {
    this.flush();
    const file = this.file(name);
    if (!existsSync(file)) return fallback();
    const text = readFileSync(file, "utf8");
    this.written.set(name, text);
    return JSON.parse(text) as T;
  }

  /** Records that `value`, the document's state, changed; it is written within `writeDelayMs`. */
  save(name: string, value: unknown): void {
    this.pending.set(name, value);
    if (this.writeDelayMs <= 0) {
      this.flush();
      return;
    }
    if (!exitHook) {
      exitHook = true;
      process.once("exit", () => {
        for (const store of pendingStores) store.flush();
      });
    }
    pendingStores.add(this);
    this.timer ??= setTimeout(() => {
      try {
        this.flush();
      } catch (error) {
        // No request is waiting for this write to answer with its failure; say it instead.
        process.emitWarning(`The lab could not write its state in ${this.dir}: ${(error as Error).message}`);
      }
    }, this.writeDelayMs);
  }

  /** Writes what is pending; later saves write at once (the lab has stopped: nothing batches them). */
  close(): void {
    this.writeDelayMs = 0;
    this.flush();
  }

  /** Writes every pending document now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    pendingStores.delete(this);
    const due = [...this.pending];
    this.pending.clear();
    for (const [name, value] of due) this.write(name, value);
  }

  private write(name: string, value: unknown): void {
    const text = JSON.stringify(value, null, 1);
    if (this.written.get(name) === text) return;
    const file = this.file(name);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
    this.written.set(name, text);
  }

  private file(name: string): string {
    return join(this.dir, `${name}.json`);
  }
}
