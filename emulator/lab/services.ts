/**
 * Every lab service, in start order (later services may use what earlier ones put in the registry).
 * One line per service.
 */
import type { LabService } from "./core/lab.js";
import { controlService } from "./control/service.js";
import { identityService, IDENTITY_PORT } from "./identity/service.js";
import { armService } from "./arm/service.js";
import { keyVaultService } from "./keyvault/service.js";
import { eventGridService } from "./eventgrid/service.js";
import { kubernetesService } from "./kubernetes/service.js";
import { edgeService } from "./edge/service.js";

export function labServices(options: { ephemeralPorts: boolean }): LabService[] {
  return [
    controlService(),
    identityService({ port: options.ephemeralPorts ? 0 : IDENTITY_PORT }),
    keyVaultService(),
    eventGridService(),
    kubernetesService(),
    armService(),
    edgeService({ ephemeralPorts: options.ephemeralPorts }),
  ];
}
