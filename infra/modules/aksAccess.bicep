// Access to one AKS cluster (Azure RBAC for Kubernetes authorization): read the cluster resource to
// find its API server, and write Secrets and Deployments in the listed namespaces only.

param clusterName string
param namespaces array

@description('Principal id of the control plane identity.')
param appPrincipalId string

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var aksRbacWriter = 'a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb'

resource cluster 'Microsoft.ContainerService/managedClusters@2024-05-01' existing = {
  name: clusterName
}

// Namespaces are not ARM resources of their own; this is the scope Azure RBAC for Kubernetes uses
// for a namespace-level assignment (<cluster id>/namespaces/<name>).
#disable-next-line BCP081
resource kubernetesNamespaces 'Microsoft.ContainerService/managedClusters/namespaces@2023-05-01' existing = [
  for ns in namespaces: {
    parent: cluster
    name: ns
  }
]

resource appReadsCluster 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(cluster.id, appPrincipalId, reader)
  scope: cluster
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appWritesNamespaces 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (ns, i) in namespaces: {
    name: guid(cluster.id, ns, appPrincipalId, aksRbacWriter)
    scope: kubernetesNamespaces[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', aksRbacWriter)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]
