// Lets the control plane create secrets and repoint custom domains on one Front Door profile.

param profileName string

@description('Principal id of the control plane identity.')
param appPrincipalId string

var cdnProfileContributor = 'ec156ff8-a8d1-4d15-830c-5b80698ca432'

resource profile 'Microsoft.Cdn/profiles@2024-02-01' existing = {
  name: profileName
}

resource appManagesProfile 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(profile.id, appPrincipalId, cdnProfileContributor)
  scope: profile
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cdnProfileContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}
