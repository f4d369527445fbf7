/**
 * App settings, as Core Tools gives them to a local app: `local.settings.json` `Values` become environment
 * variables unless the variable is already set; explicit overrides (from code) always win.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { asText } from "./text.js";

/** The parts of `local.settings.json` the host reads. */
export interface LocalSettings {
  values: Record<string, string>;
  /** `Host.LocalHttpPort`, if given. */
  localHttpPort?: number;
}

/** Reads `<appDir>/local.settings.json`; an absent file gives no values. Throws with the path when it is not valid JSON. */
export function readLocalSettings(appDir: string): LocalSettings {
  const file = join(appDir, "local.settings.json");
  if (!existsSync(file)) return { values: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const root = (parsed ?? {}) as { Values?: Record<string, unknown>; Host?: { LocalHttpPort?: unknown } };
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(root.Values ?? {})) {
    if (v !== undefined && v !== null) values[k] = asText(v);
  }
  const port = Number(root.Host?.LocalHttpPort);
  return Number.isInteger(port) && port > 0 ? { values, localHttpPort: port } : { values };
}

/** Environment changes made by {@link applySettings}, so they can be undone. */
export interface AppliedSettings {
  /** The app settings after merging: process.env as the app sees it. */
  settings: Record<string, string | undefined>;
  restore(): void;
}

/**
 * Puts `values` into process.env where a variable is not set yet, and `overrides` unconditionally.
 * `restore()` puts back what was there before.
 */
export function applySettings(
  values: Record<string, string>,
  overrides: Record<string, string> = {},
): AppliedSettings {
  const previous = new Map<string, string | undefined>();
  const set = (k: string, v: string): void => {
    if (!previous.has(k)) previous.set(k, process.env[k]);
    process.env[k] = v;
  };
  for (const [k, v] of Object.entries(values)) if (process.env[k] === undefined) set(k, v);
  for (const [k, v] of Object.entries(overrides)) set(k, v);
  return {
    settings: process.env,
    restore() {
      for (const [k, v] of previous) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

/** Replaces `%NAME%` with the app setting NAME, as the host does for binding properties. Throws when NAME is not set. */
export function resolveSettingExpressions(
  text: string,
  settings: Record<string, string | undefined>,
): string {
  return text.replace(/%([^%]+)%/g, (_m, name: string) => {
    const value = settings[name];
    if (value === undefined) throw new Error(`The app setting '${name}' referenced as %${name}% is not set.`);
    return value;
  });
}
