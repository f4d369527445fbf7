/**
 * The lab's Kubernetes API server (the AKS cluster of the seed topology) on `ctx.servers.kubernetes`:
 * discovery, OpenAPI, namespaces, v1 Secrets, networking.k8s.io/v1 Ingresses and apps/v1 Deployments,
 * with bearer-token auth (lab JWTs for the AKS server application, or the static lab token) and
 * Azure RBAC for Kubernetes authorization. Writes `<stateDir>/kubeconfig` for kubectl.
 *
 * Faults (POST /lab/faults with `service: "kubernetes"`):
 * - `latency`, `status` (e.g. 429 with `retryAfterSeconds`, 500, 503) and `drop` through the lab fault
 *   middleware; `match` is tested against `"<METHOD> <path>"`, errors are Status objects.
 * - `conflict`: the next `count` updates or patches (including applies to existing objects) whose
 *   operation `"<update|patch> <resource> <namespace>/<name>"` matches `match` (e.g.
 *   `"secrets api/backend-tls"`) answer 409 Conflict, even with a fresh resourceVersion.
 *
 * Control routes: `POST /lab/kubernetes/rollouts/complete` completes pending Deployment rollouts now.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import type { LabContext, LabService } from "../core/lab.js";
import { faultMiddleware } from "../core/faults.js";
import type { LabRequest, LabResponse, Middleware } from "../core/http.js";
import { clusterId as seedClusterId } from "../seed.js";
import { KUBERNETES_SERVICE } from "./api.js";
import { faultStatus, isStatusError, unauthorized, pathNotFound, statusError } from "./errors.js";
import {
  apiGroup,
  coreVersions,
  groupList,
  openApiV2,
  openApiV2Protobuf,
  openApiV3,
  openApiV3Root,
  resourceList,
  versionInfo,
} from "./discovery.js";
import { KubeApiServer, type KubeServerOptions } from "./handlers.js";
import { ClusterStore, type ClusterState } from "./store.js";
import { RESOURCE } from "./resources.js";
import { seedCluster } from "./seedCluster.js";
import { createKubernetesApi } from "./readApi.js";

/** The AKS AAD server application id: the audience of tokens for AKS with Entra ID integration. */
export const AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630";

const STATE = "kubernetes";
const PUBLIC_PATHS = new Set(["/version", "/healthz", "/livez", "/readyz"]);

export function kubernetesService(options: Partial<KubeServerOptions> = {}): LabService {
  return {
    name: KUBERNETES_SERVICE,
    async start(ctx: LabContext) {
      const clusterId = seedClusterId(ctx.seed);
      const firstStart = !ctx.store.has(STATE);
      const state = ctx.store.load<ClusterState>(STATE, () => ({
        resourceVersion: 0,
        objects: {},
        staticToken: `lab-${randomBytes(24).toString("hex")}`,
      }));
      const store = new ClusterStore(state, (s) => ctx.store.save(STATE, s));
      const server = new KubeApiServer(ctx, store, clusterId, { rolloutDelayMs: 300, ...options });
      const { url } = ctx.servers.kubernetes;
      const operator = ctx.seed.identities.operator;

      if (firstStart) {
        ctx.auth.assign(operator.objectId, "Azure Kubernetes Service RBAC Cluster Admin", clusterId);
        for (const ns of ctx.seed.cluster.namespaces)
          ctx.auth.assign(
            ctx.seed.identities.controlPlane.objectId,
            "Azure Kubernetes Service RBAC Writer",
            `${clusterId}/namespaces/${ns}`,
          );
        const note = await seedCluster(ctx, store);
        if (note) ctx.log(`kubernetes: ${note}`);
      }
      ctx.store.save(STATE, state);
      server.resumeRollouts();

      // The kubeconfig user: a long-lived lab token of the operator, kept across restarts.
      const check = state.operatorToken
        ? await ctx.auth.verify(`Bearer ${state.operatorToken}`, [AKS_SERVER_APP_ID])
        : undefined;
      if (!check?.ok) {
        state.operatorToken = (
          await ctx.auth.issueToken(operator, AKS_SERVER_APP_ID, 10 * 365 * 86_400)
        ).token;
        ctx.store.save(STATE, state);
      }
      const kubeconfigPath = join(ctx.stateDir, "kubeconfig");
      writeKubeconfig(
        kubeconfigPath,
        ctx.seed.cluster.name,
        url,
        readFileSync(ctx.pki.caCertPath, "utf8"),
        state.operatorToken!,
      );

      const router = ctx.servers.kubernetes.router;
      router.use(errorsAsStatus());
      router.use(faultMiddleware(ctx.faults, KUBERNETES_SERVICE, faultStatus));
      router.use(authenticate(ctx, state));
      registerDiscovery(router, url);
      router.on("*", "/api/*rest", (req) => server.handle(req));
      router.on("*", "/apis/*rest", (req) => server.handle(req));
      router.on("*", "/*rest", () => {
        throw pathNotFound();
      });

      ctx.servers.control.router.on("POST", "/lab/kubernetes/rollouts/complete", () => {
        for (const d of store.list(RESOURCE.deployments)) {
          server.completeRollout(d.metadata.namespace!, d.metadata.name);
        }
        return { status: 204 };
      });

      ctx.registry.set(KUBERNETES_SERVICE, createKubernetesApi(store, clusterId, url));
      ctx.onStop(() => server.close());
      ctx.endpoints.kubeconfig = kubeconfigPath;
      ctx.endpoints.kubernetes = {
        server: url,
        clusterId,
        serverAppId: AKS_SERVER_APP_ID,
        namespaces: [...ctx.seed.cluster.namespaces],
        staticToken: state.staticToken,
      };
      ctx.env.KUBECONFIG = kubeconfigPath;
    },
  };
}

function writeKubeconfig(path: string, name: string, server: string, caPem: string, token: string): void {
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name, cluster: { server, "certificate-authority-data": Buffer.from(caPem).toString("base64") } },
    ],
    users: [{ name: `${name}-operator`, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: `${name}-operator`, namespace: "api" } }],
    "current-context": name,
    preferences: {},
  };
  writeFileSync(path, toYaml(config), { mode: 0o600 });
}

/** Turns thrown Status errors into responses (and anything else into an InternalError Status). */
function errorsAsStatus(): Middleware {
  return async (_req, next) => {
    try {
      return await next();
    } catch (e) {
      if (isStatusError(e)) return e.toResponse();
      return statusError(
        500,
        "InternalError",
        `Internal error occurred: ${(e as Error).message}`,
      ).toResponse();
    }
  };
}

function authenticate(ctx: LabContext, state: ClusterState): Middleware {
  return async (req: LabRequest, next) => {
    if (req.method === "GET" && PUBLIC_PATHS.has(req.path)) return next();
    const header = req.headers.authorization;
    const operator = ctx.seed.identities.operator;
    if (
      header &&
      /^Bearer\s+/i.test(header) &&
      header.replace(/^Bearer\s+/i, "").trim() === state.staticToken
    ) {
      req.principal = {
        objectId: operator.objectId,
        clientId: operator.clientId,
        tenantId: ctx.seed.tenantId,
        name: operator.name,
        audience: AKS_SERVER_APP_ID,
      };
      return next();
    }
    const check = await ctx.auth.verify(header, [AKS_SERVER_APP_ID]);
    if (!check.ok) return unauthorized().toResponse();
    req.principal = check.principal;
    return next();
  };
}

function registerDiscovery(router: LabContext["servers"]["kubernetes"]["router"], url: string): void {
  const ok = (body: unknown): LabResponse => ({ status: 200, body });
  const orNotFound = (body: unknown): LabResponse => {
    if (body === undefined) throw pathNotFound();
    return ok(body);
  };
  router.on("GET", "/version", () => ok(versionInfo()));
  for (const p of ["/healthz", "/livez", "/readyz"]) router.on("GET", p, () => ({ status: 200, body: "ok" }));
  router.on("GET", "/api", () => ok(coreVersions(url.replace(/^https:\/\//, ""))));
  router.on("GET", "/apis", () => ok(groupList()));
  router.on("GET", "/api/:version", (req) => orNotFound(resourceList("", req.params.version!)));
  router.on("GET", "/apis/:group", (req) => orNotFound(apiGroup(req.params.group!)));
  router.on("GET", "/apis/:group/:version", (req) =>
    orNotFound(resourceList(req.params.group!, req.params.version!)),
  );
  router.on("GET", "/openapi/v2", (req) => {
    if (/protobuf/i.test(req.headers.accept ?? ""))
      return {
        status: 200,
        headers: { "content-type": "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" },
        body: openApiV2Protobuf(),
      };
    return ok(openApiV2());
  });
  router.on("GET", "/openapi/v3", () => ok(openApiV3Root()));
  router.on("GET", "/openapi/v3/api/:version", (req) => orNotFound(openApiV3(req.params.version!)));
  router.on("GET", "/openapi/v3/apis/:group/:version", (req) =>
    orNotFound(openApiV3(`${req.params.group}/${req.params.version}`)),
  );
}
