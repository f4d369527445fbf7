/**
 * Host keys, as the Functions host keeps them: a master key, host keys, per-function keys and system keys
 * (e.g. `eventgrid_extension`). Generated on first use, kept in `<stateDir>/keys.json`.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

interface KeysFile {
  masterKey: string;
  hostKeys: Record<string, string>;
  functionKeys: Record<string, Record<string, string>>;
  systemKeys: Record<string, string>;
}

/** Which keys an endpoint accepts. */
export type KeyRequirement =
  | { level: "anonymous" }
  | { level: "function"; functionName: string }
  | { level: "admin" }
  | { level: "system"; systemKeyName: string };

/** A new key in the format the host uses (URL-safe base64, 40 random bytes). */
function newKey(): string {
  return randomBytes(40).toString("base64url");
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The key store of one host state directory. */
export class KeyStore {
  readonly #file: string;
  readonly #keys: KeysFile;

  private constructor(file: string, keys: KeysFile) {
    this.#file = file;
    this.#keys = keys;
  }

  /** Opens (or creates) `<stateDir>/keys.json`. */
  static open(stateDir: string): KeyStore {
    const file = join(stateDir, "keys.json");
    let keys: KeysFile;
    if (existsSync(file)) {
      const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<KeysFile>;
      keys = {
        masterKey: parsed.masterKey ?? newKey(),
        hostKeys: parsed.hostKeys ?? { default: newKey() },
        functionKeys: parsed.functionKeys ?? {},
        systemKeys: parsed.systemKeys ?? {},
      };
    } else {
      keys = { masterKey: newKey(), hostKeys: { default: newKey() }, functionKeys: {}, systemKeys: {} };
    }
    const store = new KeyStore(file, keys);
    store.#save();
    return store;
  }

  get masterKey(): string {
    return this.#keys.masterKey;
  }

  /** The `default` host key, accepted by every function-level endpoint. */
  get hostKey(): string {
    return this.#ensure(this.#keys.hostKeys, "default");
  }

  /** The `default` key of one function, created on first use. */
  functionKey(functionName: string): string {
    return this.#ensure((this.#keys.functionKeys[functionName] ??= {}), "default");
  }

  /** A named system key (e.g. `eventgrid_extension`), created on first use. */
  systemKey(name: string): string {
    return this.#ensure(this.#keys.systemKeys, name);
  }

  /** Whether `presented` satisfies `requirement`; the master key satisfies every requirement. */
  authorizes(requirement: KeyRequirement, presented: string | undefined): boolean {
    if (requirement.level === "anonymous") return true;
    if (!presented) return false;
    const accepted = [this.masterKey];
    if (requirement.level === "function") {
      accepted.push(...Object.values(this.#keys.hostKeys));
      accepted.push(...Object.values(this.#keys.functionKeys[requirement.functionName] ?? {}));
    } else if (requirement.level === "system") {
      const key = this.#keys.systemKeys[requirement.systemKeyName];
      if (key) accepted.push(key);
    }
    return accepted.some((k) => same(k, presented));
  }

  #ensure(keys: Record<string, string>, name: string): string {
    const existing = keys[name];
    if (existing) return existing;
    const key = newKey();
    keys[name] = key;
    this.#save();
    return key;
  }

  #save(): void {
    mkdirSync(dirname(this.#file), { recursive: true });
    writeFileSync(this.#file, JSON.stringify(this.#keys, null, 2) + "\n", { mode: 0o600 });
  }
}

/** The key a request presents: the `x-functions-key` header, else the `code` query parameter. */
export function presentedKey(
  headers: Record<string, string | string[] | undefined>,
  url: URL,
): string | undefined {
  const header = headers["x-functions-key"];
  const value = Array.isArray(header) ? header[0] : header;
  return value || url.searchParams.get("code") || undefined;
}
