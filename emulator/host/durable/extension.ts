/**
 * PLACEHOLDER for the Durable Functions host extension, so that the host compiles and runs before the
 * real extension exists. The Durable helper replaces this whole file; nothing else depends on its body.
 */
import type { HostExtension } from "../contract.js";

/** Creates the Durable extension (placeholder: claims the Durable binding types, implements none of them). */
export function createDurableExtension(): HostExtension {
  const notImplemented = (what: string): Error => new Error(`Durable extension: ${what} is not implemented`);
  return {
    name: "durable (placeholder)",
    triggerTypes: ["orchestrationTrigger", "activityTrigger", "entityTrigger"],
    inputTypes: ["durableClient"],
    start: async (context) => {
      context.log("warn", "the Durable extension is a placeholder: durable functions will not run");
    },
    resolveInput: () => {
      throw notImplemented("the durableClient input");
    },
    handle: async () => false,
    stop: async () => {},
  };
}
