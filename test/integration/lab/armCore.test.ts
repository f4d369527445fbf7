/**
 * What ARM does around the resource providers, against the lab: 401 and 403 shapes, the
 * api-version check, injected 429 (retried by the SDK after Retry-After) and 5xx, AKS get, and
 * state that survives a restart of the lab (including an update that was still running).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ManagedIdentityCredential } from "@azure/identity";
import { startTestLab, type TestLab } from "../../support/lab.js";
import { armApi } from "../../../emulator/lab/arm/api.js";
import { KUBERNETES_SERVICE, type KubernetesLabApi } from "../../../emulator/lab/kubernetes/api.js";
import {
  apimClient,
  armFetch,
  cdnClient,
  credentialFor,
  eventually,
  isRestError,
  type ArmErrorBody,
} from "./armClients.js";

let lab: TestLab;
before(async () => {
  lab = await startTestLab();
});
after(() => lab?.dispose());

const seed = () => lab.ctx.seed;
const profilePath = () =>
  `/subscriptions/${seed().subscriptionId}/resourceGroups/${seed().resourceGroup}/providers/Microsoft.Cdn/profiles/${seed().frontDoor.profile}`;

test("401: no token, another audience, an expired token — ARM's codes with a Bearer challenge", async () => {
  const missing = await armFetch<ArmErrorBody>(lab, "GET", `${profilePath()}?api-version=2024-02-01`, {
    token: null,
  });
  assert.equal(missing.status, 401);
  assert.equal(missing.body.error.code, "AuthenticationFailed");
  assert.match(
    missing.headers.get("www-authenticate") ?? "",
    /^Bearer authorization_uri="https:\/\/login\.microsoftonline\.com\//,
  );

  const vaultToken = (
    await new ManagedIdentityCredential({
      clientId: seed().identities.controlPlane.clientId,
    }).getToken("https://vault.localhost/.default")
  ).token;
  const audience = await armFetch<ArmErrorBody>(lab, "GET", `${profilePath()}?api-version=2024-02-01`, {
    token: vaultToken,
  });
  assert.equal(audience.status, 401);
  assert.equal(audience.body.error.code, "InvalidAuthenticationTokenAudience");

  const minted = await lab.control<{ token: string }>("POST", "/lab/tokens", {
    identity: "id-cert-rotation",
    audience: "https://management.azure.com",
    lifetimeSeconds: 1,
  });
  const expired = await eventually(async () => {
    const r = await armFetch<ArmErrorBody>(lab, "GET", `${profilePath()}?api-version=2024-02-01`, {
      token: minted.body.token,
    });
    return r.status === 401 && r;
  });
  assert.equal(expired.body.error.code, "ExpiredAuthenticationToken");
  assert.match(expired.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
});

test("403 AuthorizationFailed names the client, the action and the scope; the control plane gets exactly its roles", async () => {
  const s = seed();
  const nobody = cdnClient(lab, credentialFor("nobody", lab));
  await assert.rejects(
    nobody.secrets.get(s.resourceGroup, s.frontDoor.profile, s.frontDoor.secret),
    (e: unknown) => {
      assert.ok(isRestError(e, 403, "AuthorizationFailed"));
      const message = (e as Error).message;
      assert.match(
        message,
        new RegExp(
          `client '${s.identities.nobody.clientId}' with object id '${s.identities.nobody.objectId}'`,
        ),
      );
      assert.match(
        message,
        /perform action 'Microsoft\.Cdn\/profiles\/secrets\/read' over scope '.*\/secrets\/edge-contoso'/,
      );
      return true;
    },
  );
  // The control plane reads the cluster (Reader) but may not write it.
  const cluster = `/subscriptions/${s.subscriptionId}/resourceGroups/${s.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${s.cluster.name}`;
  const write = await armFetch<ArmErrorBody>(lab, "PUT", `${cluster}?api-version=2025-05-01`, { body: {} });
  assert.equal(write.status, 403);
  assert.match(write.body.error.message, /Microsoft\.ContainerService\/managedClusters\/write/);
  // The operator (Contributor on the group) can read APIM.
  const operator = apimClient(lab, credentialFor("operator", lab));
  assert.equal(
    (await operator.apiManagementService.get(s.resourceGroup, s.apim.service)).name,
    s.apim.service,
  );
});

test("api-version: missing, malformed and unsupported versions are refused the ARM way", async () => {
  const missing = await armFetch<ArmErrorBody>(lab, "GET", profilePath());
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error.code, "MissingApiVersionParameter");
  const malformed = await armFetch<ArmErrorBody>(lab, "GET", `${profilePath()}?api-version=latest`);
  assert.equal(malformed.body.error.code, "InvalidApiVersionParameter");
  const unknown = await armFetch<ArmErrorBody>(lab, "GET", `${profilePath()}/secrets?api-version=2099-01-01`);
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.code, "NoRegisteredProviderFound");
  assert.match(
    unknown.body.error.message,
    /API version '2099-01-01' for type 'profiles\/secrets'.*2024-02-01/,
  );
  const paths = await armFetch(
    lab,
    "GET",
    `${profilePath().toUpperCase().replace("/SUBSCRIPTIONS/", "/subscriptions/")}?api-version=2024-02-01`,
  );
  assert.equal(paths.status, 200, "ARM paths are case-insensitive");
});

test("an injected 429 with Retry-After is retried by the SDK after the delay", async () => {
  const s = seed();
  const rule = await lab.control<{ id: string }>("POST", "/lab/faults", {
    service: "arm",
    kind: "status",
    status: 429,
    retryAfterSeconds: 1,
    count: 1,
    match: "^GET .*/secrets/",
  });
  const started = Date.now();
  const secret = await cdnClient(lab).secrets.get(s.resourceGroup, s.frontDoor.profile, s.frontDoor.secret);
  assert.equal(secret.name, s.frontDoor.secret);
  assert.ok(Date.now() - started >= 900, "the SDK waited for Retry-After");
  assert.equal(
    (await lab.control<{ value: { id: string }[] }>("GET", "/lab/faults")).body.value.some(
      (r) => r.id === rule.body.id,
    ),
    false,
    "consumed",
  );
});

test("5xx: one injected 503 is retried; a persistent 500 surfaces as a RestError with ARM's body", async () => {
  const s = seed();
  await lab.control("POST", "/lab/faults", {
    service: "arm",
    kind: "status",
    status: 503,
    count: 1,
    match: "^GET .*/service/",
  });
  const apim = apimClient(lab);
  assert.equal((await apim.apiManagementService.get(s.resourceGroup, s.apim.service)).name, s.apim.service);
  await lab.control("POST", "/lab/faults", {
    service: "arm",
    kind: "status",
    status: 500,
    count: 10,
    match: "^GET .*/service/",
    code: "InternalServerError",
    message: "Injected outage.",
  });
  await assert.rejects(apim.apiManagementService.get(s.resourceGroup, s.apim.service), (e: unknown) =>
    isRestError(e, 500, "InternalServerError"),
  );
  await lab.control("DELETE", "/lab/faults?service=arm");
});

test("managedClusters get returns the FQDNs and points at the lab Kubernetes API server", async () => {
  const s = seed();
  const path = `/subscriptions/${s.subscriptionId}/resourceGroups/${s.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${s.cluster.name}`;
  const got = await armFetch<{ type: string; properties: { fqdn: string; privateFQDN: string } }>(
    lab,
    "GET",
    `${path}?api-version=2025-05-01`,
  );
  assert.equal(got.status, 200);
  assert.equal(got.body.type, "Microsoft.ContainerService/ManagedClusters");
  assert.match(got.body.properties.fqdn, /\.hcp\.westeurope\.azmk8s\.io$/);
  const kube = lab.ctx.registry.get(KUBERNETES_SERVICE) as KubernetesLabApi | undefined;
  const server = kube?.serverUrl ?? lab.ctx.servers.kubernetes.url;
  assert.equal(got.body.properties.privateFQDN, new URL(server).host);
  assert.equal(armApi(lab.ctx.registry)!.managedClusters()[0]!.apiServerUrl, server);
  const creds = await armFetch<{ kubeconfigs: { value: string }[] }>(
    lab,
    "POST",
    `${path}/listClusterUserCredential?api-version=2025-05-01`,
  );
  assert.equal(creds.status, 200);
  const kubeconfig = Buffer.from(creds.body.kubeconfigs[0]!.value, "base64").toString();
  assert.match(kubeconfig, new RegExp(`server: ${server.replace(/[.]/g, "\\.")}`));
  const operatorToken = (await credentialFor("operator", lab).getToken(
    "https://management.azure.com/.default",
  ))!.token;
  const missing = await armFetch<ArmErrorBody>(lab, "GET", `${path}x?api-version=2025-05-01`, {
    token: operatorToken,
  });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, "ResourceNotFound");
});

test("state survives a restart, and an APIM update still running at the stop completes after it", async () => {
  const s = seed();
  const stateDir = lab.stateDir;
  await lab.control("POST", "/lab/arm/settings", { apimUpdateMs: 800 });
  const apim = apimClient(lab);
  await apim.apiManagementService.beginUpdateAndWait(
    s.resourceGroup,
    s.apim.service,
    { tags: { restart: "kept" } },
    { updateIntervalInMs: 20 },
  );
  const current = (await apim.apiManagementService.get(s.resourceGroup, s.apim.service))
    .hostnameConfigurations!;
  const running = await apim.apiManagementService.beginUpdate(
    s.resourceGroup,
    s.apim.service,
    { hostnameConfigurations: [...current].reverse() },
    { updateIntervalInMs: 20 },
  );
  assert.equal(running.isDone(), false);
  await lab.dispose({ keepState: true });
  lab = await startTestLab({ stateDir });
  const after = apimClient(lab);
  const svc = await after.apiManagementService.get(s.resourceGroup, s.apim.service);
  assert.deepEqual(svc.tags, { restart: "kept" });
  assert.equal(svc.provisioningState, "Updating");
  assert.equal(
    (await lab.control<{ apimUpdateMs: number }>("GET", "/lab/arm/settings")).body.apimUpdateMs,
    800,
  );
  const done = await eventually(async () => {
    const x = await after.apiManagementService.get(s.resourceGroup, s.apim.service);
    return x.provisioningState === "Succeeded" && x;
  });
  assert.deepEqual(
    done.hostnameConfigurations!.map((h) => h.hostName),
    [...current].reverse().map((h) => h.hostName),
  );
});
