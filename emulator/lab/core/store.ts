/**
 * Lab state persisted under the state folder: one JSON document per service, written atomically
 * after each change, so `npm run lab` restarts with the same world.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export class StateStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** True when the document existed at start (services seed only when it did not). */
  has(name: string): boolean {
    return existsSync(this.file(name));
  }

  load<T>(name: string, fallback: () => T): T {
    const file = this.file(name);
    if (!existsSync(file)) return fallback();
    return JSON.parse(readFileSync(file, "utf8")) as T;
  }

  save(name: string, value: unknown): void {
    const file = this.file(name);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(value, null, 1));
    renameSync(tmp, file);
  }

  private file(name: string): string {
    return join(this.dir, `${name}.json`);
  }
}
