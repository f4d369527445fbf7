/**
 * Registers every activity with the Functions app (package.json `main` loads this file).
 */
import "../src/activities/all.js";
import "../src/activities/startRotation.js";
