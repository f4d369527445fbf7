/**
 * Loads a Functions v4 Node.js app the way the worker does: the files matched by package.json `main`
 * (a path or a glob) are imported in order (ES modules with `import()`, CommonJS with `require`), and each
 * registers its functions through `@azure/functions-core` as it runs.
 */
import { existsSync, readFileSync } from "node:fs";
import { glob } from "node:fs/promises";
import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { HostLogger } from "./log.js";

/** What package.json of the app says about loading it. */
export interface AppPackage {
  main?: string;
  type?: string;
}

/** Reads `<appDir>/package.json`. Throws with the path when it is missing or not JSON. */
export function readAppPackage(appDir: string): AppPackage {
  const file = join(appDir, "package.json");
  if (!existsSync(file)) throw new Error(`The app folder ${appDir} has no package.json.`);
  try {
    return JSON.parse(readFileSync(file, "utf8")) as AppPackage;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** The entry files that `main` matches, absolute and sorted (a plain path yields itself when it exists). */
export async function findEntryFiles(appDir: string, main: string): Promise<string[]> {
  const files: string[] = [];
  for await (const f of glob(main, { cwd: appDir })) files.push(isAbsolute(f) ? f : resolve(appDir, f));
  return files.sort();
}

function isEsModule(file: string, pkg: AppPackage): boolean {
  if (file.endsWith(".mjs")) return true;
  if (file.endsWith(".cjs")) return false;
  return pkg.type === "module";
}

const loadCounts = new Map<string, number>();

/**
 * Imports one entry file. A file this process already imported is evaluated again (ES modules: with a
 * distinct query string; CommonJS: after dropping it from the require cache) so that a second host in
 * the same process sees its registrations. Modules the entry file imports are not re-evaluated.
 */
async function importEntryFile(file: string, pkg: AppPackage): Promise<void> {
  const count = loadCounts.get(file) ?? 0;
  loadCounts.set(file, count + 1);
  if (isEsModule(file, pkg)) {
    const url = pathToFileURL(file);
    if (count > 0) url.searchParams.set("hostLoad", String(count));
    await import(url.href);
  } else {
    const require = createRequire(file);
    const resolved = require.resolve(file);
    if (count > 0) delete require.cache[resolved];
    require(resolved);
  }
}

/** Imports every entry file of the app. Returns the files loaded; logs (and rethrows) the first load failure. */
export async function loadApp(appDir: string, logger: HostLogger): Promise<string[]> {
  const pkg = readAppPackage(appDir);
  if (!pkg.main) {
    logger.warn(`package.json in ${appDir} has no "main": no function will be loaded.`);
    return [];
  }
  const files = await findEntryFiles(appDir, pkg.main);
  if (files.length === 0) {
    logger.warn(
      `No file matches "main": "${pkg.main}" in ${appDir} (is the app built?): no function loaded.`,
    );
    return [];
  }
  for (const file of files) {
    logger.debug(`Loading entry point file "${file}"`);
    try {
      await importEntryFile(file, pkg);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      logger.error(`Unable to load entry point "${file}": ${err.stack ?? err.message}`);
      throw new Error(`The app entry point ${file} failed to load: ${err.message}`, { cause: e });
    }
  }
  return files;
}
