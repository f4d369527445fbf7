/**
 * End to end, what is refused or isolated before anything is written:
 * - an APIM service that answers 403 blocks only the certificates it might bind: the bindings file
 *   says it references the APIM certificates only, so the ingress certificate rolls out (and is
 *   served) while it stays unreadable;
 * - `targets` that match no binding get a 400 naming them, and no rollout starts;
 * - a route id that is no rollout id gets a 400 naming it, before the Durable client sees it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { apimServiceId, SEED } from "../../emulator/lab/seed.js";
import { explain, holdFault, listInstances, newVersion, startRollout } from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";

describe("requests refused up front and discovery isolation", () => {
  let world: World;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "guards-"));
    const file = join(dir, "bindings.yaml");
    writeFileSync(
      file,
      [
        "bindings: []",
        "references:",
        `  - resource: ${apimServiceId()}`,
        `    certificates: [${VAULT}/${SEED.certificates.apim.name}, ${VAULT}/${SEED.certificates.client.name}]`,
      ].join("\n"),
    );
    world = await startWorld({ subscribeEvents: false, settings: { BINDINGS_FILE: file } });
  });
  after(async () => {
    await world?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a 403 on an APIM service that cannot bind the certificate does not stop its rollout", async () => {
    const name = SEED.certificates.ingress.name;
    const lift = await holdFault(world.lab, {
      service: "arm",
      kind: "status",
      status: 403,
      code: "AuthorizationFailed",
      match: `^GET .*/service/${SEED.apim.service}`,
    });
    try {
      const v = await newVersion(world, name);
      const id = await startRollout(world, { vault: VAULT, certificate: name, version: v.version });
      const report = await world.waitForRollout(id, 180_000);
      assert.equal(report.outcome?.state, "Succeeded", explain(report));
      assert.deepEqual(await world.served(SEED.certificates.ingress.hosts[0]), [v.thumbprint]);
      assert.match(world.logs(), /not blocking \(cannot bind this certificate\).*apim-contoso/);
    } finally {
      await lift();
    }
  });

  it("answers targets that match no binding with a 400 naming them, and starts nothing", async () => {
    const name = SEED.certificates.edge.name;
    const before = (await listInstances(world)).length;
    const answer = await world.api("POST", "/api/rollouts", {
      vault: VAULT,
      certificate: name,
      targets: ["frontDoor", "nowhere.contoso.test", "api/no-such-secret"],
    });
    assert.equal(answer.status, 400, answer.text);
    const error = (answer.body as { error: { code: string; field: string; message: string } }).error;
    assert.equal(error.code, "UnknownTargets");
    assert.equal(error.field, "targets");
    assert.match(error.message, /nowhere\.contoso\.test, api\/no-such-secret\.$/);
    assert.doesNotMatch(error.message, /frontDoor/, "the matching selector is not named");
    assert.equal((await listInstances(world)).length, before, "no rollout was started");
  });

  it("answers a route id that is no rollout id with a 400 naming it", async () => {
    const long = `rotate:${VAULT}:${"x".repeat(200)}`;
    const cases: [string, string][] = [
      ["GET", `/api/rollouts/${encodeURIComponent("nope")}`],
      ["GET", `/api/rollouts/${encodeURIComponent(long)}/status`],
      ["POST", `/api/rollouts/${encodeURIComponent("rotate:kv:x@yesterday")}/cancel`],
      ["GET", `/api/rollouts/${encodeURIComponent("rotate:kv:a b")}`],
    ];
    for (const [method, path] of cases) {
      const answer = await world.api(method, path);
      assert.equal(answer.status, 400, `${method} ${path} → ${answer.status} ${answer.text}`);
      const error = (answer.body as { error: { field: string; message: string } }).error;
      assert.equal(error.field, "id");
      assert.match(error.message, /^Route id "/);
    }
    const fine = await world.api(
      "GET",
      `/api/rollouts/${encodeURIComponent(`rotate:${VAULT}:never-rolled`)}`,
    );
    assert.equal(fine.status, 404, "a well-formed id still reaches the lookup");
  });
});
