/** App settings pointing at a lab: see emulator/lab/appSettings.ts. */
export * from "../../emulator/lab/appSettings.js";
