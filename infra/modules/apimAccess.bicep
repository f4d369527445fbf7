// Lets the control plane update hostname configurations and certificates of one API Management service.

param serviceName string

@description('Principal id of the control plane identity.')
param appPrincipalId string

var apiManagementServiceContributor = '312a565d-c81f-4fd8-895a-4e21e48d571c'

resource service 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: serviceName
}

resource appManagesService 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(service.id, appPrincipalId, apiManagementServiceContributor)
  scope: service
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', apiManagementServiceContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}
