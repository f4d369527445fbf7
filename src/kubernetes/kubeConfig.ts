/**
 * A `KubeConfig` for one cluster: from a kubeconfig file (the lab, or any cluster reachable with a
 * file), or for an AKS cluster through ARM (`listClusterUserCredential` gives the API server and its
 * CA) with an Entra token for the AKS server application as the bearer token.
 */
import type { TokenCredential } from "@azure/identity";
import { KubeConfig } from "@kubernetes/client-node";
import { parseArmId, ArmTypes } from "../domain/armIds.js";
import { ConfigurationError, RetriableError } from "../errors.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";

/** The Entra application of the AKS API server (audience of its tokens). */
export const AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630";
/** API version used for `Microsoft.ContainerService/managedClusters`. */
export const AKS_API_VERSION = "2025-05-01";

/**
 * Loads the kubeconfig file and selects the context for `cluster`: a context (or cluster) named like
 * the cluster's name (the last segment of its ARM id) or the cluster string itself; else the
 * current context.
 */
export function kubeConfigFromFile(path: string, cluster: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  const name = parseArmId(cluster, ArmTypes.managedCluster)?.name ?? cluster;
  const wanted = [cluster, name].map((n) => n.toLowerCase());
  const context =
    kc.getContexts().find((c) => wanted.includes(c.name.toLowerCase())) ??
    kc.getContexts().find((c) => wanted.includes(c.cluster.toLowerCase()));
  if (context) kc.setCurrentContext(context.name);
  return kc;
}

/** A kubeconfig for an AKS cluster and when its token expires. */
export interface AksKubeConfig {
  kubeConfig: KubeConfig;
  expiresOnTimestamp: number;
}

/**
 * Builds a kubeconfig for an AKS cluster: `listClusterUserCredential` (ARM) for the server URL and
 * CA, and a token for the AKS server application from `credential` as the user.
 */
export async function kubeConfigForAks(
  clusterId: string,
  credential: TokenCredential,
  arm: { endpoint: string; scope: string },
): Promise<AksKubeConfig> {
  const id = parseArmId(clusterId, ArmTypes.managedCluster);
  if (!id) throw new ConfigurationError(`'${clusterId}' is not an AKS cluster ARM id.`, "AKS_CLUSTER_IDS");
  const armToken = await credential.getToken(arm.scope);
  if (!armToken) throw new RetriableError("No ARM token was issued.");
  const url = `${arm.endpoint}${id.id}/listClusterUserCredential?api-version=${AKS_API_VERSION}`;
  let res: Response;
  try {
    res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${armToken.token}` } });
  } catch (e) {
    throw retriable(describeSdkError(e, `Reading the credentials of cluster ${id.name}`));
  }
  if (!res.ok) {
    const failure = describeSdkError(
      { statusCode: res.status, headers: res.headers },
      `Reading the credentials of cluster ${id.name}`,
    );
    throw retriable(failure);
  }
  const body = (await res.json()) as { kubeconfigs?: { name?: string; value?: string }[] };
  const encoded = body.kubeconfigs?.[0]?.value;
  if (!encoded) throw new RetriableError(`Cluster ${id.name} returned no kubeconfig.`);
  const fromArm = new KubeConfig();
  fromArm.loadFromString(Buffer.from(encoded, "base64").toString("utf8"));
  const c = fromArm.getCurrentCluster();
  if (!c) throw new RetriableError(`The kubeconfig of cluster ${id.name} names no cluster.`);
  const token = await credential.getToken(`${AKS_SERVER_APP_ID}/.default`);
  if (!token) throw new RetriableError(`No token for the AKS server application was issued.`);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: id.name, server: c.server, caData: c.caData, skipTLSVerify: false }],
    users: [{ name: "control-plane", token: token.token }],
    contexts: [{ name: id.name, cluster: id.name, user: "control-plane" }],
    currentContext: id.name,
  });
  return { kubeConfig: kc, expiresOnTimestamp: token.expiresOnTimestamp };
}
