/** Lab + Azurite + the local host with the app: see emulator/world.ts. */
export * from "../../emulator/world.js";
