/**
 * The app validates its configuration when it starts (functions/appStart.ts), not on the first
 * invocation: the local host loads the built app, and a bad setting stops it with a sentence naming
 * the setting before any trigger can run.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startHost } from "../../emulator/host/host.js";
import { writeAppDir } from "../../emulator/world.js";
import { appConfig } from "../../src/config.js";
import { isConfigurationError } from "../../src/errors.js";

/** The three settings without a default. */
const MINIMAL: Record<string, string> = {
  ALLOWED_VAULT_URLS: "https://kv-prod.vault.azure.net",
  OUTCOME_TOPIC_ENDPOINT: "https://egt-outcomes.westeurope-1.eventgrid.azure.net/api/events",
  AzureWebJobsStorage: "UseDevelopmentStorage=true",
};

/** Starts the whole built app (every file of `functions/`) on a free port, without extensions or Azurite. */
async function startApp(settings: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "app-start-"));
  try {
    const host = await startHost({
      appDir: writeAppDir(join(dir, "app")),
      stateDir: join(dir, "host"),
      port: 0,
      extensions: [],
      azurite: false,
      logSink: () => {},
      settings,
    });
    return { host, dispose: () => host.stop().finally(() => rmSync(dir, { recursive: true, force: true })) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

test("a bad setting stops the app at start with a sentence naming the setting", async () => {
  await assert.rejects(startApp({ ...MINIMAL, PROBE_INTERVAL_SECONDS: "soon" }), (e: unknown) => {
    assert.ok(isConfigurationError(e), `expected a ConfigurationError, got ${String(e)}`);
    assert.equal(e.setting, "PROBE_INTERVAL_SECONDS");
    assert.equal(e.message, "App setting PROBE_INTERVAL_SECONDS must be a number (got 'soon').");
    return true;
  });
});

test("a missing required setting stops the app at start too", async () => {
  const { ALLOWED_VAULT_URLS: _omitted, ...rest } = MINIMAL;
  await assert.rejects(startApp(rest), (e: unknown) => {
    assert.ok(isConfigurationError(e), `expected a ConfigurationError, got ${String(e)}`);
    assert.match(e.message, /^App setting ALLOWED_VAULT_URLS is required: /);
    return true;
  });
});

test("a good configuration starts the app, and the configuration it validated is the one the app reads", async () => {
  const { host, dispose } = await startApp({ ...MINIMAL, PROBE_INTERVAL_SECONDS: "7" });
  try {
    assert.ok(host.functions().length > 0);
    assert.equal(appConfig().probes.intervalSeconds, 7);
  } finally {
    await dispose();
  }
});
