/**
 * Registers every orchestration with the Functions app (package.json `main` loads this file).
 */
import "../src/orchestrations/apimChange.js";
import "../src/orchestrations/applyTarget.js";
import "../src/orchestrations/driftCertificate.js";
import "../src/orchestrations/driftScan.js";
import "../src/orchestrations/restoreTarget.js";
import "../src/orchestrations/rollbackRotation.js";
import "../src/orchestrations/rolloutStage.js";
import "../src/orchestrations/rotateCertificate.js";
