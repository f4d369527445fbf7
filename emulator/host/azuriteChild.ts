/**
 * Runs Azurite (the npm package's own CLI entry, with the arguments given to this process) as a child of the
 * host. It shuts down cleanly on SIGINT/SIGTERM and when the host goes away, even when the host is killed:
 * Azurite writes its tables and queues to disk periodically and on close, so closing it (instead of dying
 * with the host) keeps the data of the last seconds. The process exits once all three services have closed.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

let closed = 0;
const log = console.log.bind(console);
console.log = (...args: unknown[]): void => {
  log(...args);
  if (typeof args[0] === "string" && /service successfully closed/.test(args[0]) && ++closed === 3)
    process.exit(0);
};

process.on("disconnect", () => {
  process.emit("SIGINT");
  setTimeout(() => process.exit(0), 10_000).unref();
});

require("azurite/dist/src/azurite.js");
