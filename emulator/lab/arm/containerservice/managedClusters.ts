/**
 * `Microsoft.ContainerService/managedClusters`: get, and `listClusterUserCredential` (a kubeconfig
 * for the lab API server, as `az aks get-credentials` fetches it). The lab API server listens on a
 * loopback port, not on 443: `properties.privateFQDN` is its `host:port`, so a client that builds
 * `https://{privateFQDN}` reaches it; `fqdn` keeps the public `*.azmk8s.io` shape.
 */
import type { LabRequest, Router } from "../../core/http.js";
import { methodNotAllowed, resourceNotFound } from "../core/errors.js";
import { key, resourceGroupId } from "../core/ids.js";
import { actionFor, type ArmPipeline } from "../core/pipeline.js";
import { checkScope, requestScope } from "../core/scope.js";
import type { ClusterState } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";

const TYPE = "Microsoft.ContainerService/managedClusters";
const PATH =
  "/subscriptions/:sub/resourceGroups/:rg/providers/Microsoft.ContainerService/managedClusters/:name";

export const clusterId = (world: ArmWorld, name: string): string =>
  `${resourceGroupId(world.subscriptionId, world.resourceGroup)}/providers/${TYPE}/${name}`;

export function clusterJson(world: ArmWorld, c: ClusterState): Record<string, unknown> {
  return {
    id: clusterId(world, c.name),
    location: c.location,
    name: c.name,
    tags: c.tags,
    type: "Microsoft.ContainerService/ManagedClusters",
    properties: c.properties,
  };
}

export function registerManagedClusters(router: Router, pipeline: ArmPipeline, world: ArmWorld): void {
  const find = (req: LabRequest) => {
    const scoped = checkScope(world, req);
    if (scoped) return scoped;
    const c = world.state.clusters[key(req.params.name!)];
    return c ?? resourceNotFound(TYPE, req.params.name!, req.params.rg!);
  };
  router.on(
    "GET",
    PATH,
    pipeline.wrap(
      {
        namespace: "Microsoft.ContainerService",
        scope: requestScope,
        action: (r) => actionFor(r.method, TYPE),
      },
      (req) =>
        world.exclusive(() => {
          const c = find(req);
          return "status" in c ? c : { status: 200, body: clusterJson(world, c) };
        }),
    ),
  );
  // Writes are authorised like ARM does, then refused: the lab serves the cluster as seeded.
  router.on(
    ["PUT", "PATCH", "DELETE"],
    PATH,
    pipeline.wrap(
      {
        namespace: "Microsoft.ContainerService",
        scope: requestScope,
        action: (r) => actionFor(r.method, TYPE),
      },
      (req) => methodNotAllowed(req.method),
    ),
  );
  router.on(
    "POST",
    `${PATH}/listClusterUserCredential`,
    pipeline.wrap(
      {
        namespace: "Microsoft.ContainerService",
        scope: (r) => requestScope(r).replace(/\/listClusterUserCredential$/i, ""),
        action: () => `${TYPE}/listClusterUserCredential/action`,
      },
      (req) =>
        world.exclusive(() => {
          const c = find(req);
          if ("status" in c) return c;
          const cluster = c;
          const server = cluster.apiServerUrl;
          const kubeconfig = [
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            `- name: ${cluster.name}`,
            "  cluster:",
            `    server: ${server}`,
            `    certificate-authority-data: ${Buffer.from(world.ctx.pki.root.certPem).toString("base64")}`,
            "contexts:",
            `- name: ${cluster.name}`,
            "  context:",
            `    cluster: ${cluster.name}`,
            `    user: clusterUser_${world.resourceGroup}_${cluster.name}`,
            `current-context: ${cluster.name}`,
            "users:",
            `- name: clusterUser_${world.resourceGroup}_${cluster.name}`,
            "  user:",
            "    exec:",
            "      apiVersion: client.authentication.k8s.io/v1beta1",
            "      command: kubelogin",
            "      args: [get-token, --login, azurecli, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]",
            "",
          ].join("\n");
          return {
            status: 200,
            body: {
              kubeconfigs: [{ name: "clusterUser", value: Buffer.from(kubeconfig).toString("base64") }],
            },
          };
        }),
    ),
  );
}
