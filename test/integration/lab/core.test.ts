import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ManagedIdentityCredential, DefaultAzureCredential } from "@azure/identity";
import { startTestLab, type TestLab } from "../../support/lab.js";

let lab: TestLab;
before(async () => {
  lab = await startTestLab();
});
after(() => lab?.dispose());

test("DefaultAzureCredential gets a lab token through the App Service managed identity endpoint", async () => {
  const credential = new DefaultAzureCredential();
  const token = await credential.getToken("https://management.azure.com/.default");
  assert.ok(token.token.split(".").length === 3, "a JWT");
  const check = await lab.ctx.auth.verify(`Bearer ${token.token}`, ["https://management.azure.com"]);
  assert.equal(check.ok, true);
  assert.equal(check.ok && check.principal.clientId, lab.ctx.seed.identities.controlPlane.clientId);
});

test("a token is refused for another audience, and once it has expired", async () => {
  const credential = new ManagedIdentityCredential({ clientId: lab.ctx.seed.identities.operator.clientId });
  const { token } = await credential.getToken("https://vault.localhost/.default");
  const wrong = await lab.ctx.auth.verify(`Bearer ${token}`, ["https://management.azure.com"]);
  assert.equal(wrong.ok, false);
  assert.equal(!wrong.ok && wrong.reason, "audience");
  const minted = await lab.control<{ token: string }>("POST", "/lab/tokens", {
    identity: "operator",
    audience: "https://x",
    lifetimeSeconds: 60,
  });
  assert.equal(minted.status, 200);
  assert.equal((await lab.ctx.auth.verify(`Bearer ${minted.body.token}`, ["https://x"])).ok, true);
  const stale = await lab.control<{ token: string }>("POST", "/lab/tokens", {
    identity: "operator",
    audience: "https://x",
    lifetimeSeconds: -60,
  });
  const expired = await lab.ctx.auth.verify(`Bearer ${stale.body.token}`, ["https://x"]);
  assert.equal(!expired.ok && expired.reason, "expired");
});

test("role assignments grant actions only inside their scope", async () => {
  const principal = lab.ctx.seed.identities.nobody.objectId;
  const rg = `/subscriptions/${lab.ctx.seed.subscriptionId}/resourceGroups/${lab.ctx.seed.resourceGroup}`;
  const profile = `${rg}/providers/Microsoft.Cdn/profiles/afd-contoso`;
  const write = { action: "Microsoft.Cdn/profiles/secrets/write" };
  assert.equal(lab.ctx.auth.isAllowed(principal, `${profile}/secrets/s1`, write), false);
  const added = await lab.control("POST", "/lab/roleAssignments", {
    principal: "nobody",
    roleName: "CDN Profile Contributor",
    scope: profile,
  });
  assert.equal(added.status, 201);
  assert.equal(lab.ctx.auth.isAllowed(principal, `${profile}/secrets/s1`, write), true);
  assert.equal(
    lab.ctx.auth.isAllowed(principal, `${rg}/providers/Microsoft.Cdn/profiles/other/secrets/s1`, write),
    false,
  );
  assert.equal(
    lab.ctx.auth.isAllowed(principal, `${profile}/secrets/s1`, {
      action: "Microsoft.ApiManagement/service/write",
    }),
    false,
  );
  await lab.control("DELETE", `/lab/roleAssignments?principal=nobody`);
  assert.equal(lab.ctx.auth.isAllowed(principal, `${profile}/secrets/s1`, write), false);
});

test("fault rules are validated, listed and consumed by count", async () => {
  assert.equal((await lab.control("POST", "/lab/faults", { kind: "status" })).status, 400);
  const rule = await lab.control("POST", "/lab/faults", {
    service: "arm",
    kind: "status",
    status: 429,
    retryAfterSeconds: 1,
    count: 2,
  });
  assert.equal(rule.status, 201);
  assert.ok(lab.ctx.faults.take("arm", "GET /x", "status"));
  assert.ok(lab.ctx.faults.take("arm", "GET /x", "status"));
  assert.equal(lab.ctx.faults.take("arm", "GET /x", "status"), undefined);
});

test("a service that fails to start stops the lab it was part of, and stop is idempotent", async () => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const path = await import("node:path");
  const { startLab } = await import("../../../emulator/lab/core/lab.js");
  const { controlService } = await import("../../../emulator/lab/control/service.js");
  const dir = mkdtempSync(path.join(tmpdir(), "lab-fail-"));
  let controlUrl = "";
  try {
    await assert.rejects(
      startLab({
        stateDir: dir,
        ports: "ephemeral",
        log: () => {},
        services: [
          controlService(),
          {
            name: "broken",
            start(ctx) {
              controlUrl = ctx.servers.control.url;
              throw new Error("broken service");
            },
          },
        ],
      }),
      /broken service/,
    );
    // The control server that had started no longer accepts connections.
    await assert.rejects(fetch(`${controlUrl}/lab/health`));
    const ok = await startLab({
      stateDir: dir,
      ports: "ephemeral",
      log: () => {},
      services: [controlService()],
    });
    await ok.stop();
    await ok.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
