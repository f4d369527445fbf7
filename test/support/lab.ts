/** The in-process lab for tests: see emulator/lab/inProcess.ts. */
export * from "../../emulator/lab/inProcess.js";
