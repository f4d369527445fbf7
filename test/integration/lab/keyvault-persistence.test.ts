import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DefaultAzureCredential } from "@azure/identity";
import { startTestLab } from "../../support/lab.js";
import {
  certificateClient,
  keyMatchesCertificate,
  readPfx,
  secretClient,
  derToCertificate,
} from "./keyvaultSupport.js";

test("a restart with the same state folder keeps certificate versions, secrets, issuers and subscriptions", async () => {
  const stateDir = mkdtempSync(join(tmpdir(), "lab-kv-restart-"));
  try {
    const name = "restart-me";
    let versions: string[];
    let cer: Buffer;
    {
      const lab = await startTestLab({ stateDir });
      try {
        await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 50 });
        const certs = certificateClient(lab, new DefaultAzureCredential());
        for (let i = 0; i < 2; i++) {
          await (
            await certs.beginCreateCertificate(
              name,
              { issuerName: "LabCA", subject: "CN=restart.test" },
              { intervalInMs: 50 },
            )
          ).pollUntilDone();
        }
        versions = [];
        for await (const v of certs.listPropertiesOfCertificateVersions(name)) versions.push(v.version!);
        cer = Buffer.from((await certs.getCertificate(name)).cer!);
        await certs.createIssuer("kept-ca", "LabCA");
        const sub = await lab.control("POST", "/lab/eventgrid/subscriptions", {
          name: "kept-sub",
          endpointUrl: "https://example.invalid/webhook",
          schema: "EventGridSchema",
        });
        assert.equal(sub.status, 400, "an unreachable webhook fails the handshake");
      } finally {
        await lab.dispose({ keepState: true });
      }
    }
    const lab = await startTestLab({ stateDir });
    try {
      const credential = new DefaultAzureCredential();
      const certs = certificateClient(lab, credential);
      const after: string[] = [];
      for await (const v of certs.listPropertiesOfCertificateVersions(name)) after.push(v.version!);
      assert.deepEqual(after.sort(), [...versions].sort());
      assert.equal(after.length, 2);
      const latest = await certs.getCertificate(name);
      assert.deepEqual(Buffer.from(latest.cer!), cer);
      const pfx = readPfx((await secretClient(lab, credential).getSecret(name)).value!);
      assert.ok(pfx.keyPem && keyMatchesCertificate(derToCertificate(latest.cer!).toString(), pfx.keyPem));
      assert.equal((await certs.getIssuer("kept-ca")).provider, "LabCA");
      const seeded = await certs.getCertificate(lab.ctx.seed.certificates.edge.name);
      assert.equal(seeded.policy?.issuerName, "LabCA");
    } finally {
      await lab.dispose({ keepState: true });
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});
