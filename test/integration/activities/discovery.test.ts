import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { discoverAllBindingsHandler } from "../../../src/activities/discoverAllBindings.js";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import { resolveBindingsHandler } from "../../../src/activities/resolveBindings.js";
import { bindingId } from "../../../src/domain/bindings.js";
import { SEED } from "../../../emulator/lab/seed.js";
import { startActivityWorld, type ActivityWorld } from "./activitySupport.js";

let w: ActivityWorld;
before(async () => {
  w = await startActivityWorld();
});
after(async () => w.dispose());

const vault = SEED.vault.name;

test("discovery finds every seeded binding of every certificate", async () => {
  const r = await discoverAllBindingsHandler({}, w.context());
  console.log(JSON.stringify(r, null, 1));
  assert.deepEqual(r.warnings, []);
});

test("readCertificate reads the current version", async () => {
  const r = await readCertificateHandler(
    { vaultName: vault, certificateName: SEED.certificates.edge.name },
    w.context(),
  );
  console.log(JSON.stringify(r, null, 1));
  assert.equal(r.found, true);
  void bindingId;
  void resolveBindingsHandler;
});
