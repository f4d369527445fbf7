/**
 * The lab's Azure Resource Manager surface on `ctx.servers.arm`: Microsoft.Cdn (Front Door
 * Standard/Premium), Microsoft.ApiManagement and Microsoft.ContainerService/managedClusters get,
 * with ARM's authentication, api-version check, RBAC, long-running operations and error shapes.
 *
 * Lab control routes (control server):
 * - `GET /lab/arm/settings`, `POST /lab/arm/settings` (partial `ArmSettings`: durations in ms,
 *   `apimConflict: {status: 409|429, retryAfterSeconds}`, `lroRetryAfterSeconds`, `pageSize`).
 * - `GET /lab/arm/operations`: the long-running operations and their states.
 *
 * Faults (`POST /lab/faults` with `service: "arm"`, `match` a regex on "METHOD /path"):
 * `latency`, `status` (e.g. 429 with `retryAfterSeconds`, 500, 503) and `drop` on any ARM request;
 * `lroFailed` (the next matching PUT/PATCH of a Front Door secret or custom domain, or of an APIM
 * service, ends Failed with the rule's `code`/`message`); `apimStuck` (APIM updates that start
 * while the rule exists stay `Updating` until it is removed); `afdDeploymentStuck` (Front Door
 * deployments that start while the rule exists stay `InProgress` until it is removed).
 */
import { z } from "zod";
import type { LabContext, LabService } from "../core/lab.js";
import { ARM_SERVICE } from "./api.js";
import { ArmPipeline } from "./core/pipeline.js";
import type { ArmState } from "./core/state.js";
import { DEFAULT_SETTINGS } from "./core/state.js";
import { ArmWorld } from "./core/world.js";
import { deploymentTicker, profileId } from "./cdn/frontDoor.js";
import { registerProfiles } from "./cdn/profiles.js";
import { onSecretOperation, registerSecrets } from "./cdn/secrets.js";
import { onDomainOperation, registerCustomDomains } from "./cdn/customDomains.js";
import { registerEndpoints } from "./cdn/endpoints.js";
import { registerOrigins } from "./cdn/origins.js";
import { registerCdnOperationResults } from "./cdn/operationResults.js";
import { onApimOperation, registerApimService } from "./apim/service.js";
import { registerApimCertificates } from "./apim/certificates.js";
import { registerApimBackends } from "./apim/backends.js";
import { serviceId } from "./apim/apim.js";
import { clusterId, registerManagedClusters } from "./containerservice/managedClusters.js";
import { createArmApi } from "./readApi.js";
import { emptyState, seedArm, seedRoleAssignments } from "./seed.js";
import { kubernetesApi } from "../kubernetes/api.js";

const settingsSchema = z
  .object({
    frontDoorOperationMs: z.number().int().nonnegative(),
    frontDoorDeploymentMs: z.number().int().nonnegative(),
    apimUpdateMs: z.number().int().nonnegative(),
    apimConflict: z.object({
      status: z.union([z.literal(409), z.literal(429)]),
      retryAfterSeconds: z.number().int().nonnegative(),
    }),
    lroRetryAfterSeconds: z.number().int().nonnegative(),
    pageSize: z.number().int().positive(),
  })
  .partial()
  .strict();

export function armService(): LabService {
  return {
    name: ARM_SERVICE,
    async start(ctx: LabContext) {
      const fresh = !ctx.store.has("arm");
      const state = ctx.store.load<ArmState>("arm", emptyState);
      state.settings = { ...DEFAULT_SETTINGS, ...state.settings };
      const world = new ArmWorld(ctx, state);
      if (fresh) {
        await seedArm(world);
        seedRoleAssignments(ctx, world);
      }
      refreshClusters(ctx, world);
      world.save();

      world.onComplete("afdSecret", onSecretOperation(world));
      world.onComplete("afdDomain", onDomainOperation(world));
      world.onComplete("apimUpdate", onApimOperation(world));
      world.addTicker(deploymentTicker(world));

      const router = ctx.servers.arm.router;
      const pipeline = new ArmPipeline(ctx);
      registerProfiles(router, pipeline, world);
      registerSecrets(router, pipeline, world);
      registerCustomDomains(router, pipeline, world);
      registerEndpoints(router, pipeline, world);
      registerOrigins(router, pipeline, world);
      registerCdnOperationResults(router, pipeline, world);
      registerApimService(router, pipeline, world);
      registerApimCertificates(router, pipeline, world);
      registerApimBackends(router, pipeline, world);
      registerManagedClusters(router, pipeline, world);

      const control = ctx.servers.control.router;
      control.on("GET", "/lab/arm/settings", () => ({ status: 200, body: world.settings }));
      control.on("POST", "/lab/arm/settings", (req) => {
        const parsed = settingsSchema.safeParse(req.body ?? {});
        if (!parsed.success) {
          return {
            status: 400,
            body: { error: { code: "BadRequest", message: `Invalid ARM settings: ${parsed.error.message}` } },
          };
        }
        return world.exclusive(() => {
          Object.assign(world.state.settings, parsed.data);
          return { status: 200, body: world.settings };
        });
      });
      control.on("GET", "/lab/arm/operations", () => ({
        status: 200,
        body: { value: Object.values(world.state.operations) },
      }));

      ctx.registry.set(ARM_SERVICE, createArmApi(world));
      const seed = ctx.seed;
      const fd = seed.frontDoor;
      const pid = profileId(world, fd.profile);
      const sid = serviceId(world, seed.apim.service);
      ctx.endpoints.armEndpoint = ctx.servers.arm.url;
      ctx.endpoints.arm = {
        endpoint: ctx.servers.arm.url,
        audience: "https://management.azure.com",
        apiVersions: { cdn: "2024-02-01", apiManagement: "2024-05-01", containerService: "2025-05-01" },
        resources: {
          frontDoorProfile: pid,
          frontDoorEndpoint: `${pid}/afdEndpoints/${fd.endpoint}`,
          frontDoorSecret: `${pid}/secrets/${fd.secret}`,
          frontDoorCustomDomains: Object.keys(fd.customDomains).map((d) => `${pid}/customDomains/${d}`),
          frontDoorOriginGroup: `${pid}/originGroups/${fd.originGroup}`,
          frontDoorOrigin: `${pid}/originGroups/${fd.originGroup}/origins/${fd.origin}`,
          apimService: sid,
          apimCertificate: `${sid}/certificates/${seed.apim.clientCertificateId}`,
          apimBackend: `${sid}/backends/${seed.apim.backend}`,
          managedCluster: clusterId(world, seed.cluster.name),
        },
      };
      ctx.env.ARM_ENDPOINT = ctx.servers.arm.url;
      ctx.env.ARM_AUDIENCE = "https://management.azure.com";
      ctx.env.AZURE_SUBSCRIPTION_ID = seed.subscriptionId;
      world.start();
    },
  };
}

/** Points the clusters at the lab Kubernetes server (its port may change between starts). */
function refreshClusters(ctx: LabContext, world: ArmWorld): void {
  const kube = kubernetesApi(ctx.registry);
  for (const c of Object.values(world.state.clusters)) {
    const url = kube?.serverUrl ?? ctx.servers.kubernetes.url;
    c.apiServerUrl = url;
    c.properties.privateFQDN = new URL(url).host;
    if (!kube) {
      ctx.log(
        "arm: the Kubernetes service is not running; the cluster points at the bare lab Kubernetes port.",
      );
    }
  }
}
