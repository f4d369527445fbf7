// Role assignments on one Key Vault (RBAC authorization mode). The control plane reads certificates
// and their secrets (the private key, for Kubernetes Secrets); it may create certificate versions
// only when renewal is enabled. Front Door and API Management read the secret versions we point
// them at with their own identities.

param vaultName string

@description('Principal id of the control plane identity.')
param appPrincipalId string

@description('True when the control plane renews certificates (RENEW_ON_NEAR_EXPIRY).')
param renewalEnabled bool

@description('Principal ids of the Front Door profile and API Management service identities.')
param hopPrincipalIds array

var keyVaultCertificatesOfficer = 'a4417e6f-fecd-4de8-b567-7b0420556985'
var keyVaultCertificateUser = 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource appRenewsCertificates 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (renewalEnabled) {
  name: guid(vault.id, appPrincipalId, keyVaultCertificatesOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificatesOfficer)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appReadsCertificates 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!renewalEnabled) {
  name: guid(vault.id, appPrincipalId, keyVaultCertificateUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificateUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource hopsReadSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in hopPrincipalIds: {
    name: guid(vault.id, principalId, keyVaultSecretsUser)
    scope: vault
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
