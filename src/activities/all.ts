/**
 * Every activity, registered. Importing this module registers them all with the Functions app; each
 * export is the typed callable an orchestrator yields.
 */
export { acquireLock } from "./acquireLock.js";
export { applyFrontDoorProfile } from "./applyFrontDoorProfile.js";
export { applyKubernetesSecret } from "./applyKubernetesSecret.js";
export { cleanupTarget } from "./cleanupTarget.js";
export { discoverAllBindings } from "./discoverAllBindings.js";
export { observeBinding } from "./observeBinding.js";
export { preflightCertificate } from "./preflightCertificate.js";
export { probeEndpoints } from "./probeEndpoints.js";
export { publishHeld } from "./publishHeld.js";
export { publishOutcome } from "./publishOutcome.js";
export { queueApimChange } from "./queueApimChange.js";
export { readApimService } from "./readApimService.js";
export { readCertificate } from "./readCertificate.js";
export { readDeployed } from "./readDeployed.js";
export { readFrontDoorProfile } from "./readFrontDoorProfile.js";
export { readHold } from "./readHold.js";
export { readRenewal } from "./readRenewal.js";
export { recordAudit } from "./recordAudit.js";
export { recordHold } from "./recordHold.js";
export { releaseLock } from "./releaseLock.js";
export { resolveBindings } from "./resolveBindings.js";
export { rollbackTarget } from "./rollbackTarget.js";
export { sendApimUpdate } from "./sendApimUpdate.js";
export { settleApimUpdate } from "./settleApimUpdate.js";
export { startRenewal } from "./startRenewal.js";
export { takeApimTurn } from "./takeApimTurn.js";
export type { ActivityInput, ActivityOutput, TypedActivity } from "./typed.js";
