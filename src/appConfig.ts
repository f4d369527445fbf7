/**
 * The app's configuration as the registered functions read it: loaded from the environment once,
 * on first use (a misconfigured app fails its first invocation with a sentence naming the setting).
 */
import { loadConfig, type Config } from "./config.js";

let cached: Config | undefined;

/** The app's configuration, read from the environment once. Throws a ConfigurationError naming the setting. */
export function appConfig(): Config {
  cached ??= loadConfig(process.env);
  return cached;
}
