/**
 * Validates the app's configuration when the app starts, before any trigger runs: the `appStart`
 * hook reads every app setting into the one cached configuration (see `appConfig` in src/config).
 * A missing or malformed setting throws a ConfigurationError whose message is a sentence naming the
 * setting, so the worker fails to start the app instead of failing each invocation later.
 */
import { app } from "@azure/functions";
import { appConfig, resetAppConfig } from "../src/config.js";

app.hook.appStart(() => {
  // Read the settings afresh: a host may start the app again in the same process with other settings.
  resetAppConfig();
  appConfig();
});
