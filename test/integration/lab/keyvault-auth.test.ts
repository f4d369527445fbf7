import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import { startTestLab, type TestLab } from "../../support/lab.js";
import {
  certificateClient,
  labTokenCredential,
  recordingHttpClient,
  secretClient,
} from "./keyvaultSupport.js";

let lab: TestLab;
before(async () => {
  lab = await startTestLab();
});
after(() => lab?.dispose());

const edge = () => lab.ctx.seed.certificates.edge.name;
const asIdentity = (name: keyof TestLab["ctx"]["seed"]["identities"]) =>
  new ManagedIdentityCredential({ clientId: lab.ctx.seed.identities[name].clientId });

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message: string;
}

test("401 without a token: the SDK's first, unauthenticated request gets the real code, message and challenge", async () => {
  const { httpClient, records } = recordingHttpClient();
  await certificateClient(lab, new DefaultAzureCredential(), httpClient).getCertificate(edge());
  const first = records[0]!;
  assert.equal(first.authorized, false);
  assert.equal(first.status, 401);
  assert.deepEqual(first.responseBody, {
    error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." },
  });
  assert.equal(
    first.wwwAuthenticate,
    `Bearer authorization="https://login.microsoftonline.com/${lab.ctx.seed.tenantId}", resource="https://vault.localhost"`,
  );
  // A credential that yields no token leaves the SDK with that 401.
  const noToken: TokenCredential = { getToken: () => Promise.resolve(null) };
  await assert.rejects(certificateClient(lab, noToken).getCertificate(edge()));
});

test("401 for a token of another audience (AKV10022)", async () => {
  const mi = asIdentity("operator");
  const armToken: TokenCredential = {
    getToken: () => mi.getToken("https://management.azure.com/.default"),
  };
  await assert.rejects(certificateClient(lab, armToken).getCertificate(edge()), (e: RestErrorLike) => {
    assert.equal(e.statusCode, 401);
    assert.match(
      e.message,
      /AKV10022: Invalid audience\. Expected https:\/\/vault\.localhost, found: https:\/\/management\.azure\.com/,
    );
    return true;
  });
});

test("403 Forbidden / ForbiddenByRbac for an identity without a role, with the real message shape", async () => {
  await assert.rejects(
    certificateClient(lab, asIdentity("nobody")).getCertificate(edge()),
    (e: RestErrorLike) => {
      assert.equal(e.statusCode, 403);
      assert.equal(e.code, "Forbidden");
      assert.match(e.message, /Caller is not authorized to perform action on resource\./);
      assert.match(e.message, /Action: 'Microsoft\.KeyVault\/vaults\/certificates\/read'/);
      assert.match(e.message, /Assignment: \(not found\)/);
      return true;
    },
  );
});

test("least privilege: Front Door's identity reads the secret but cannot create certificates; the control plane can", async () => {
  const frontDoor = asIdentity("frontDoor");
  const secret = await secretClient(lab, frontDoor).getSecret(edge());
  assert.equal(secret.properties.contentType, "application/x-pkcs12");
  await assert.rejects(certificateClient(lab, frontDoor).getCertificate(edge()), { statusCode: 403 });
  await assert.rejects(
    certificateClient(lab, frontDoor).beginCreateCertificate("fd-made", {
      issuerName: "Self",
      subject: "CN=x",
    }),
    { statusCode: 403 },
  );
  const controlPlane = certificateClient(lab, new DefaultAzureCredential());
  assert.equal((await controlPlane.getCertificatePolicy(edge())).issuerName, "LabCA");
  assert.ok((await secretClient(lab, new DefaultAzureCredential()).getSecret(edge())).value);
  // APIM's identity, like Front Door's, only reads secrets.
  await assert.rejects(certificateClient(lab, asIdentity("apim")).getCertificatePolicy(edge()), {
    statusCode: 403,
  });
});

test("an injected 429 with Retry-After is retried by the SDK after the delay and succeeds", async () => {
  const name = lab.ctx.seed.certificates.apim.name;
  const rule = await lab.control("POST", "/lab/faults", {
    service: "keyvault",
    kind: "status",
    status: 429,
    retryAfterSeconds: 1,
    match: `^GET /certificates/${name}/?$`,
    count: 1,
  });
  assert.equal(rule.status, 201);
  const { httpClient, records } = recordingHttpClient();
  const client = certificateClient(lab, new DefaultAzureCredential(), httpClient);
  const started = Date.now();
  const cert = await client.getCertificate(name);
  assert.equal(cert.name, name);
  const statuses = records.map((r) => r.status);
  assert.deepEqual(statuses, [401, 429, 200]);
  assert.ok(Date.now() - started >= 950, "waited for Retry-After");
  assert.equal(
    (await lab.control<{ value: unknown[] }>("GET", "/lab/faults")).body.value.length,
    0,
    "the rule was consumed",
  );
});

test("an injected 503 without Retry-After is retried with exponential backoff", async () => {
  await lab.control("POST", "/lab/faults", {
    service: "keyvault",
    kind: "status",
    status: 503,
    code: "ServiceUnavailable",
    match: "^GET /secrets/",
    count: 1,
  });
  const { httpClient, records } = recordingHttpClient();
  const secret = await secretClient(lab, new DefaultAzureCredential(), httpClient).getSecret(edge());
  assert.ok(secret.value);
  assert.deepEqual(
    records.map((r) => r.status),
    [401, 503, 200],
  );
});

test("401 TokenExpired for an expired token, and a fresh token works", async () => {
  const expired: TokenCredential = {
    async getToken(scopes) {
      const audience = (Array.isArray(scopes) ? scopes[0]! : scopes).replace(/\/\.default$/, "");
      const minted = await lab.control<{ token: string }>("POST", "/lab/tokens", {
        identity: "operator",
        audience,
        lifetimeSeconds: -60,
      });
      return { token: minted.body.token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
  await assert.rejects(certificateClient(lab, expired).getCertificate(edge()), (e: RestErrorLike) => {
    assert.equal(e.statusCode, 401);
    assert.match(e.message, /TokenExpired/);
    return true;
  });
  assert.equal(
    (await certificateClient(lab, labTokenCredential(lab, "operator")).getCertificate(edge())).name,
    edge(),
  );
});
