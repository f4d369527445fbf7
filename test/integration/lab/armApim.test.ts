/**
 * API Management through @azure/arm-apimanagement against the lab ARM: the service GET/PATCH with
 * JSON merge-patch (arrays replaced whole), infrastructure updates as LROs that only change what
 * the gateway serves when they complete, concurrent updates refused, stuck and failed updates, and
 * the `certificates` and `backends` entities.
 */
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import type { HostnameConfiguration } from "@azure/arm-apimanagement";
import { startTestLab, type TestLab } from "../../support/lab.js";
import { armApi } from "../../../emulator/lab/arm/api.js";
import { KEYVAULT_API, type KeyVaultApi } from "../../../emulator/lab/keyvault/api.js";
import { apimClient, isRestError, newKeyVaultVersion } from "./armClients.js";

let lab: TestLab;
const poll = { updateIntervalInMs: 20 };

before(async () => {
  lab = await startTestLab();
  // New Key Vault versions are made in a few tests only to have one; the lab's default issuance time
  // (1.5 s, Key Vault's pending operation, covered by the Key Vault tests) would only add waiting.
  assert.equal((await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 50 })).status, 200);
  const { rg, service } = ids();
  seeded = (await apimClient(lab).apiManagementService.get(rg, service)).hostnameConfigurations!;
});
after(() => lab?.dispose());
beforeEach(async () => {
  await lab.control("DELETE", "/lab/faults?service=arm");
  await lab.control("POST", "/lab/arm/settings", {
    apimUpdateMs: 300,
    apimConflict: { status: 409, retryAfterSeconds: 0 },
  });
  // Every test starts from the seeded host names (a previous test may have removed one).
  const client = apimClient(lab);
  const { rg, service } = ids();
  const current = await client.apiManagementService.get(rg, service);
  if (current.hostnameConfigurations?.length !== 2) {
    await client.apiManagementService.beginUpdateAndWait(
      rg,
      service,
      { hostnameConfigurations: seededHostnames() },
      poll,
    );
  }
});

let seeded: HostnameConfiguration[] = [];
const seededHostnames = () => structuredClone(seeded);
/** The current host names, and the same entries in the other order (a different array: an infrastructure change). */
async function hostnamesAndFlipped(): Promise<[HostnameConfiguration[], HostnameConfiguration[]]> {
  const { rg, service } = ids();
  const current = (await apimClient(lab).apiManagementService.get(rg, service)).hostnameConfigurations!;
  return [current, [...current].reverse()];
}
const ids = () => ({ s: lab.ctx.seed, rg: lab.ctx.seed.resourceGroup, service: lab.ctx.seed.apim.service });
const kv = () => lab.ctx.registry.get(KEYVAULT_API) as KeyVaultApi;
const gateway = () => armApi(lab.ctx.registry)!.apimGateways()[0]!;
const servedFor = (host: string) => gateway().hostnames.find((h) => h.hostName === host);

test("the seeded service has the built-in gateway host name and apim.contoso.test from Key Vault", async () => {
  const { s, rg, service } = ids();
  const svc = await apimClient(lab).apiManagementService.get(rg, service);
  assert.equal(svc.provisioningState, "Succeeded");
  assert.equal(svc.hostnameConfigurations!.length, 2);
  const builtIn = svc.hostnameConfigurations!.find((h) => h.hostName.endsWith(".azure-api.net"))!;
  assert.equal(builtIn.certificateSource, "BuiltIn");
  assert.equal(builtIn.defaultSslBinding, true);
  const custom = svc.hostnameConfigurations!.find((h) => h.hostName === "apim.contoso.test")!;
  const current = kv().currentVersion(s.vault.name, s.certificates.apim.name)!;
  assert.equal(custom.certificateSource, "KeyVault");
  assert.ok(custom.keyVaultId!.endsWith(`/secrets/${s.certificates.apim.name}/${current.version}`));
  assert.equal(custom.certificate?.thumbprint, current.thumbprint);
  assert.equal(svc.identity?.principalId, s.identities.apim.objectId);
  assert.equal(servedFor("apim.contoso.test")?.keyVault?.version, current.version);
});

test("modifying one host name and PATCHing the whole array back is an LRO; the gateway changes when it completes", async () => {
  const { s, rg, service } = ids();
  const client = apimClient(lab);
  const version = await newKeyVaultVersion(lab, s.certificates.apim.name);
  const svc = await client.apiManagementService.get(rg, service);
  const hostnames = svc.hostnameConfigurations!.map((h) =>
    h.hostName === "apim.contoso.test" ? { ...h, keyVaultId: h.keyVaultId!.replace(/[^/]+$/, version) } : h,
  );
  const served = servedFor("apim.contoso.test")!.keyVault!.version;
  const changes: string[] = [];
  const off = lab.ctx.bus.on("resource.changed", (e) => e.service === "arm" && changes.push(e.id));
  try {
    const poller = await client.apiManagementService.beginUpdate(
      rg,
      service,
      { hostnameConfigurations: hostnames },
      poll,
    );
    assert.equal((await client.apiManagementService.get(rg, service)).provisioningState, "Updating");
    assert.equal(
      servedFor("apim.contoso.test")!.keyVault!.version,
      served,
      "the gateway keeps the old certificate",
    );
    const done = await poller.pollUntilDone();
    assert.equal(done.provisioningState, "Succeeded");
    const after = await client.apiManagementService.get(rg, service);
    const custom = after.hostnameConfigurations!.find((h) => h.hostName === "apim.contoso.test")!;
    assert.equal(
      custom.certificate?.thumbprint,
      kv().versions(s.vault.name, s.certificates.apim.name).at(-1)!.thumbprint,
    );
    assert.equal(after.hostnameConfigurations!.length, 2, "the built-in entry was sent back and stays");
    assert.equal(servedFor("apim.contoso.test")!.keyVault!.version, version);
    assert.ok(changes.some((id) => id.toLowerCase().endsWith(`/service/${service}`)));
    seeded = after.hostnameConfigurations!;
  } finally {
    off();
  }
});

test("a PATCH whose array lacks the built-in entry removes it (JSON merge patch replaces arrays)", async () => {
  const { rg, service } = ids();
  const client = apimClient(lab);
  const svc = await client.apiManagementService.get(rg, service);
  const onlyCustom = svc.hostnameConfigurations!.filter((h) => h.hostName === "apim.contoso.test");
  await client.apiManagementService.beginUpdateAndWait(
    rg,
    service,
    { hostnameConfigurations: onlyCustom },
    poll,
  );
  const after = await client.apiManagementService.get(rg, service);
  assert.deepEqual(
    after.hostnameConfigurations!.map((h) => h.hostName),
    ["apim.contoso.test"],
  );
  assert.equal(after.publisherEmail, svc.publisherEmail, "other properties merge and stay");
  assert.equal(armApi(lab.ctx.registry)!.apimGatewayFor(svc.hostnameConfigurations![0]!.hostName), undefined);
});

test("a tags-only PATCH is a synchronous 200, with no operation and no update", async () => {
  const { rg, service } = ids();
  const client = apimClient(lab);
  const before = (await lab.control<{ value: unknown[] }>("GET", "/lab/arm/operations")).body.value.length;
  const poller = await client.apiManagementService.beginUpdate(
    rg,
    service,
    { tags: { owner: "platform" } },
    poll,
  );
  assert.equal(poller.isDone(), true);
  assert.equal(poller.getResult()?.provisioningState, "Succeeded");
  assert.deepEqual((await client.apiManagementService.get(rg, service)).tags, { owner: "platform" });
  assert.equal(
    (await lab.control<{ value: unknown[] }>("GET", "/lab/arm/operations")).body.value.length,
    before,
  );
});

test("a second infrastructure update while one runs is refused with 409, or 429 RetryableErrorDueToAnotherOperation", async () => {
  const { rg, service } = ids();
  const client = apimClient(lab);
  await lab.control("POST", "/lab/arm/settings", { apimUpdateMs: 1500 });
  const [current, flipped] = await hostnamesAndFlipped();
  const first = await client.apiManagementService.beginUpdate(
    rg,
    service,
    { hostnameConfigurations: flipped },
    poll,
  );
  await assert.rejects(
    client.apiManagementService.beginUpdateAndWait(rg, service, { hostnameConfigurations: current }, poll),
    (e: unknown) => isRestError(e, 409, "Conflict"),
  );
  await lab.control("POST", "/lab/arm/settings", { apimConflict: { status: 429, retryAfterSeconds: 0 } });
  await assert.rejects(
    client.apiManagementService.beginUpdateAndWait(rg, service, { hostnameConfigurations: current }, poll),
    (e: unknown) => isRestError(e, 429, "RetryableErrorDueToAnotherOperation"),
  );
  // Tags are not an infrastructure change: allowed while the update runs.
  await client.apiManagementService.beginUpdateAndWait(rg, service, { tags: { during: "update" } }, poll);
  await first.pollUntilDone();
});

test("a 429 with Retry-After is retried by the SDK until the running update has finished", async () => {
  const { rg, service } = ids();
  const client = apimClient(lab);
  await lab.control("POST", "/lab/arm/settings", {
    apimUpdateMs: 600,
    apimConflict: { status: 429, retryAfterSeconds: 1 },
  });
  const statuses: number[] = [];
  client.pipeline.addPolicy(
    {
      name: "recordAttempts",
      async sendRequest(request, next) {
        const response = await next(request);
        if (request.method === "PATCH") statuses.push(response.status);
        return response;
      },
    },
    { afterPhase: "Retry" },
  );
  const [current, flipped] = await hostnamesAndFlipped();
  const first = await client.apiManagementService.beginUpdate(
    rg,
    service,
    { hostnameConfigurations: flipped },
    poll,
  );
  const second = await client.apiManagementService.beginUpdateAndWait(
    rg,
    service,
    { hostnameConfigurations: current },
    poll,
  );
  assert.equal(second.provisioningState, "Succeeded");
  assert.deepEqual(statuses.slice(0, 2), [202, 429], "the second PATCH was refused, then retried");
  assert.equal(statuses.at(-1), 202);
  // The first update ended well too (a poller already done answers its result, or throws its failure).
  assert.equal((await first.pollUntilDone()).provisioningState, "Succeeded");
});

test("an injected failed update is surfaced by the poller and the service keeps its configuration", async () => {
  const { rg, service } = ids();
  const client = apimClient(lab);
  const before = await client.apiManagementService.get(rg, service);
  const since = gateway().effectiveSince;
  await lab.control("POST", "/lab/faults", {
    service: "arm",
    kind: "lroFailed",
    match: "^PATCH .*/service/",
    count: 1,
    code: "ActivationFailed",
    message: "Gateway activation failed.",
  });
  const onlyCustom = before.hostnameConfigurations!.filter((h) => h.hostName === "apim.contoso.test");
  await assert.rejects(
    client.apiManagementService.beginUpdateAndWait(rg, service, { hostnameConfigurations: onlyCustom }, poll),
    /long-running operation has failed.*ActivationFailed/,
  );
  const after = await client.apiManagementService.get(rg, service);
  assert.equal(after.provisioningState, "Succeeded");
  assert.equal(after.hostnameConfigurations!.length, before.hostnameConfigurations!.length);
  assert.equal(gateway().effectiveSince, since);
});

test("an update stuck by a fault stays Updating until the fault is removed", async () => {
  const { rg, service } = ids();
  const client = apimClient(lab);
  const rule = await lab.control<{ id: string }>("POST", "/lab/faults", {
    service: "arm",
    kind: "apimStuck",
  });
  const [, flipped] = await hostnamesAndFlipped();
  const poller = await client.apiManagementService.beginUpdate(
    rg,
    service,
    { hostnameConfigurations: flipped },
    poll,
  );
  const deadline = Date.now() + 900; // three times the configured update time
  while (Date.now() < deadline) {
    await poller.poll();
    assert.equal(poller.isDone(), false);
  }
  assert.equal((await client.apiManagementService.get(rg, service)).provisioningState, "Updating");
  await lab.control("DELETE", `/lab/faults/${rule.body.id}`);
  assert.equal((await poller.pollUntilDone()).provisioningState, "Succeeded");
});

test("the service honours If-Match like ARM: a stale ETag is a 412 PreconditionFailed, the ETag changes on every update", async () => {
  const client = apimClient(lab);
  const { rg, service } = ids();
  const read = await client.apiManagementService.get(rg, service);
  assert.ok(read.etag, "the service has an ETag");
  // A tags-only update with the ETag read goes through, and changes the ETag.
  await client.apiManagementService.beginUpdateAndWait(
    rg,
    service,
    { tags: { step: "1" } },
    {
      ...poll,
      requestOptions: { customHeaders: { "if-match": `"${read.etag}"` } },
    },
  );
  const after = await client.apiManagementService.get(rg, service);
  assert.notEqual(after.etag, read.etag, "every update changes the ETag");
  // The ETag read before that update no longer matches: 412 with ARM's error body, nothing changed.
  const [, flipped] = await hostnamesAndFlipped();
  await assert.rejects(
    client.apiManagementService.beginUpdate(
      rg,
      service,
      { hostnameConfigurations: flipped },
      {
        ...poll,
        requestOptions: { customHeaders: { "if-match": `"${read.etag}"` } },
      },
    ),
    (e) => isRestError(e, 412, "PreconditionFailed"),
  );
  const unchanged = await client.apiManagementService.get(rg, service);
  assert.equal(unchanged.etag, after.etag);
  assert.equal(unchanged.provisioningState, "Succeeded", "no update started");
  // `*` matches any existing service.
  await client.apiManagementService.beginUpdateAndWait(
    rg,
    service,
    { tags: { step: "2" } },
    {
      ...poll,
      requestOptions: { customHeaders: { "if-match": "*" } },
    },
  );
});

test("certificates: ETag, If-Match on update (412 without or stale), HEAD, list, and refreshSecret picking up a new Key Vault version", async () => {
  const { s, rg, service } = ids();
  const client = apimClient(lab);
  const id = s.apim.clientCertificateId;
  const got = await client.certificate.get(rg, service, id);
  assert.ok(got.eTag);
  assert.match(got.keyVault!.secretIdentifier!, new RegExp(`/secrets/${s.certificates.client.name}$`));
  assert.equal(got.thumbprint, kv().currentVersion(s.vault.name, s.certificates.client.name)!.thumbprint);
  assert.equal((await client.certificate.getEntityTag(rg, service, id)).eTag, got.eTag);
  const listed = [];
  for await (const c of client.certificate.listByService(rg, service)) listed.push(c.name);
  assert.deepEqual(listed, [id]);

  const body = { keyVault: { secretIdentifier: got.keyVault!.secretIdentifier } };
  await assert.rejects(client.certificate.createOrUpdate(rg, service, id, body), (e: unknown) =>
    isRestError(e, 412),
  );
  await assert.rejects(
    client.certificate.createOrUpdate(rg, service, id, body, { ifMatch: '"AAAAAAAAAAA="' }),
    (e: unknown) => isRestError(e, 412, "PreconditionFailed"),
  );
  const put = await client.certificate.createOrUpdate(rg, service, id, body, { ifMatch: got.eTag });
  assert.notEqual(put.eTag, got.eTag);

  const version = await newKeyVaultVersion(lab, s.certificates.client.name);
  const stale = await client.certificate.get(rg, service, id);
  assert.equal(stale.thumbprint, got.thumbprint, "APIM keeps what it fetched until refreshed");
  const refreshed = await client.certificate.refreshSecret(rg, service, id);
  assert.equal(
    refreshed.thumbprint,
    kv().currentVersion(s.vault.name, s.certificates.client.name)!.thumbprint,
  );
  assert.notEqual(refreshed.thumbprint, got.thumbprint);
  assert.notEqual(refreshed.eTag, put.eTag);
  const backend = gateway().backends[0]!;
  assert.equal(backend.clientCertificates[0]!.keyVault?.version, version);

  const created = await client.certificate.createOrUpdate(rg, service, "second", body);
  assert.ok(created.eTag);
  await assert.rejects(client.certificate.delete(rg, service, "second", '"AAAAAAAAAAA="'), (e: unknown) =>
    isRestError(e, 412),
  );
  await client.certificate.delete(rg, service, "second", "*");
  await assert.rejects(client.certificate.get(rg, service, "second"), (e: unknown) => isRestError(e, 404));
});

test("backends: TLS settings and client certificate ids; PATCH with If-Match merges", async () => {
  const { s, rg, service } = ids();
  const client = apimClient(lab);
  const b = await client.backend.get(rg, service, s.apim.backend);
  assert.equal(b.url, "https://backend.contoso.test");
  assert.deepEqual(b.tls, { validateCertificateChain: true, validateCertificateName: true });
  assert.ok(b.credentials!.certificateIds![0]!.endsWith(`/certificates/${s.apim.clientCertificateId}`));
  const patched = await client.backend.update(rg, service, s.apim.backend, b.eTag!, {
    tls: { validateCertificateName: false },
  });
  assert.deepEqual(patched.tls, { validateCertificateChain: true, validateCertificateName: false });
  assert.equal(patched.url, b.url);
  assert.equal(gateway().backends[0]!.tls.validateCertificateName, false);
  await assert.rejects(
    client.backend.update(rg, service, s.apim.backend, b.eTag!, { description: "stale" }),
    (e: unknown) => isRestError(e, 412),
  );
  await assert.rejects(
    client.backend.createOrUpdate(rg, service, "bad", {
      url: "https://x.test",
      protocol: "http",
      credentials: { certificateIds: ["/x/certificates/missing"] },
    }),
    (e: unknown) => isRestError(e, 400, "ValidationError"),
  );
  await client.backend.update(rg, service, s.apim.backend, "*", { tls: { validateCertificateName: true } });
});
