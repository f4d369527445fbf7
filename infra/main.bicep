// e2e-cert-rotation: the control plane and everything it needs, with least privilege.
//
// Creates a resource group with the Function App (Flex Consumption, Node.js 22), its identity,
// storage, monitoring, integration subnet (unless one is given) and the outcome topic; then, in the
// resource groups of the resources it is given, exactly scoped role assignments and one Event Grid
// system topic per vault. Validate with `az bicep build --file infra/main.bicep` or
// `azd provision --preview`; test/unit/infra checks the security invariants without a compiler.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region of the resource group and the Function App (one that offers Flex Consumption).')
param location string

@description('Name of the resource group to create; default rg-<environmentName>.')
param resourceGroupName string = ''

// ---- what the control plane manages (comma-separated resource ids) --------------------------------

@description('Key Vaults whose certificates are rotated (RBAC authorization mode), comma-separated resource ids.')
param keyVaultIds string

@description('Front Door Standard/Premium profiles to update, comma-separated resource ids.')
param frontDoorProfileIds string = ''

@description('API Management services to update, comma-separated resource ids.')
param apimServiceIds string = ''

@description('AKS clusters (Azure RBAC for Kubernetes authorization) to update, comma-separated resource ids.')
param aksClusterIds string = ''

@description('Namespaces the control plane may write in, in every cluster, comma-separated.')
param kubernetesNamespaces string = ''

@description('Principal (object) ids of the Front Door profiles\' managed identities, comma-separated; they get Key Vault Secrets User on each vault.')
param frontDoorPrincipalIds string = ''

@description('Principal (object) ids of the API Management services\' managed identities, comma-separated; they get Key Vault Secrets User on each vault.')
param apimPrincipalIds string = ''

// ---- behaviour (each becomes the app setting of the same meaning) ---------------------------------

@description('Renew certificates in Key Vault on near-expiry (grants Key Vault Certificates Officer instead of Certificate User).')
param renewOnNearExpiry bool = true

@description('NCRONTAB schedule of the drift scan.')
param driftSchedule string = '0 0 0,6,12,18 * * *'

@minValue(0)
param driftJitterSeconds int = 300

@allowed(['repair', 'report'])
param driftMode string = 'repair'

@minValue(1)
param probeIntervalSeconds int = 15

@minValue(1)
param probeDeadlineKubernetesSeconds int = 300

@description('How long the APIM gateway may take to serve the new certificate (a custom-domain update is documented to take 15 minutes or longer).')
@minValue(1)
param probeDeadlineApimSeconds int = 3600

@description('How long the Front Door edge may take to serve the new certificate (documented: up to 24 hours to reach every edge location).')
@minValue(1)
param probeDeadlineFrontDoorSeconds int = 86400

@description('Path of the end-to-end request through the whole chain (one the API answers without credentials).')
param probeEndToEndPath string = '/'

@description('Require a 2xx from the end-to-end request (otherwise any answer below 500 passes).')
param probeEndToEndRequire2xx bool = false

@description('Public host names of the API, comma-separated: each rollout\'s end-to-end request goes through them (empty: the plan\'s outermost hosts).')
param probeEndToEndHosts string = ''

param stageOrder string = 'kubernetes,apim,frontDoor'

@minValue(0)
param preflightMinValidityDays int = 30

@minValue(1)
param renewalDeadlineSeconds int = 86400

param rolloutRestartDeployments bool = false

@description('Rounds a waiting sub-orchestration runs before it continues as new (bounds each Durable history).')
@minValue(2)
@maxValue(1000)
param waitRoundsPerExecution int = 20

@description('Path of an explicit bindings file inside the deployed package; empty for discovery only.')
param bindingsFile string = ''

@description('Where certificates may be written: vault[/certificate]=cluster/namespace|apim:<service>|frontDoor:<profile> rules, comma-separated. Empty: private keys go only to Secrets the bindings file names.')
param writePolicy string = ''

@description('Path of a PEM bundle of extra trusted roots inside the deployed package; empty for the Node.js root store.')
param trustedCaBundlePath string = ''

param auditTableName string = 'RolloutAudit'

// ---- platform ------------------------------------------------------------------------------------

@description('Existing subnet for VNet integration (delegated to Microsoft.App/environments) that reaches the private AKS API servers and private endpoints; empty to create a new virtual network.')
param vnetIntegrationSubnetId string = ''

param vnetAddressPrefix string = '10.60.0.0/24'
param vnetSubnetPrefix string = '10.60.0.0/26'

@description('E-mail address alerted when a Key Vault event is dead-lettered.')
param alertEmail string = ''

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Create the Event Grid subscriptions to keyVaultEvents; true once the code is deployed (the function must exist).')
param deployEventSubscriptions bool = false

// ---- names -----------------------------------------------------------------------------------------

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-certrot-${token}'
var storageAccountName = 'stcertrot${token}'
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'

@description('The non-empty, trimmed items of a comma-separated list.')
func csv(items string) array => filter(map(split(items, ','), item => trim(item)), item => !empty(item))

var vaults = csv(keyVaultIds)
var frontDoorProfiles = csv(frontDoorProfileIds)
var apimServices = csv(apimServiceIds)
var aksClusters = csv(aksClusterIds)
var namespaces = csv(kubernetesNamespaces)
var hopPrincipals = concat(csv(frontDoorPrincipalIds), csv(apimPrincipalIds))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

// ---- the control plane ---------------------------------------------------------------------------

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-certrot-${token}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-certrot-${token}'
    applicationInsightsName: 'appi-certrot-${token}'
    actionGroupName: 'ag-certrot-${token}'
    alertEmail: alertEmail
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: storageAccountName
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    appPrincipalId: identity.outputs.principalId
    location: location
    tags: tags
  }
}

module network 'modules/network.bicep' = if (empty(vnetIntegrationSubnetId)) {
  name: 'network'
  scope: rg
  params: {
    name: 'vnet-certrot-${token}'
    addressPrefix: vnetAddressPrefix
    subnetPrefix: vnetSubnetPrefix
    location: location
    tags: tags
  }
}

module outcomeTopic 'modules/outcomeTopic.bicep' = {
  name: 'outcomeTopic'
  scope: rg
  params: {
    name: 'evgt-certrot-outcomes-${token}'
    appPrincipalId: identity.outputs.principalId
    location: location
    tags: tags
  }
}

// Exactly the settings local.settings.sample.json lists, minus its lab-only ones. In Azure the
// worker runtime is functionAppConfig.runtime, and AzureWebJobsStorage is an identity-based
// connection (its __accountName, __credential and __clientId).
var appSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  AzureWebJobsFeatureFlags: 'EnableWorkerIndexing'
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.applicationInsightsConnectionString
  AZURE_CLIENT_ID: identity.outputs.clientId
  ALLOWED_VAULT_URLS: join(map(vaults, id => 'https://${last(split(id, '/'))}${environment().suffixes.keyvaultDns}'), ',')
  FRONT_DOOR_SCOPES: join(frontDoorProfiles, ',')
  APIM_SCOPES: join(apimServices, ',')
  AKS_CLUSTER_IDS: join(aksClusters, ',')
  KUBERNETES_NAMESPACES: join(namespaces, ',')
  BINDINGS_FILE: bindingsFile
  WRITE_POLICY: writePolicy
  ARM_ENDPOINT: environment().resourceManager
  ARM_AUDIENCE: environment().resourceManager
  OUTCOME_TOPIC_ENDPOINT: outcomeTopic.outputs.endpoint
  AUDIT_TABLE_NAME: auditTableName
  AUDIT_STORAGE_CONNECTION: 'AzureWebJobsStorage'
  DRIFT_SCHEDULE: driftSchedule
  DRIFT_JITTER_SECONDS: string(driftJitterSeconds)
  DRIFT_MODE: driftMode
  PROBE_INTERVAL_SECONDS: string(probeIntervalSeconds)
  PROBE_DEADLINE_KUBERNETES_SECONDS: string(probeDeadlineKubernetesSeconds)
  PROBE_DEADLINE_APIM_SECONDS: string(probeDeadlineApimSeconds)
  PROBE_DEADLINE_FRONT_DOOR_SECONDS: string(probeDeadlineFrontDoorSeconds)
  PROBE_END_TO_END_PATH: probeEndToEndPath
  PROBE_END_TO_END_REQUIRE_2XX: string(probeEndToEndRequire2xx)
  PROBE_END_TO_END_HOSTS: probeEndToEndHosts
  STAGE_ORDER: stageOrder
  PREFLIGHT_MIN_VALIDITY_DAYS: string(preflightMinValidityDays)
  RENEW_ON_NEAR_EXPIRY: string(renewOnNearExpiry)
  RENEWAL_DEADLINE_SECONDS: string(renewalDeadlineSeconds)
  ROLLOUT_RESTART_DEPLOYMENTS: string(rolloutRestartDeployments)
  WAIT_ROUNDS_PER_EXECUTION: string(waitRoundsPerExecution)
  TRUSTED_CA_BUNDLE_PATH: trustedCaBundlePath
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'functionApp'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    identityId: identity.outputs.id
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    subnetId: empty(vnetIntegrationSubnetId) ? network.outputs.subnetId : vnetIntegrationSubnetId
    appSettings: appSettings
    maximumInstanceCount: maximumInstanceCount
  }
}

// ---- access to what it manages, each assignment on exactly one resource ---------------------------

module vaultAccess 'modules/vaultAccess.bicep' = [
  for id in vaults: {
    name: 'vaultAccess-${uniqueString(id)}'
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
    params: {
      vaultName: last(split(id, '/'))
      appPrincipalId: identity.outputs.principalId
      renewalEnabled: renewOnNearExpiry
      hopPrincipalIds: hopPrincipals
    }
  }
]

module frontDoorAccess 'modules/frontDoorAccess.bicep' = [
  for id in frontDoorProfiles: {
    name: 'frontDoorAccess-${uniqueString(id)}'
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
    params: {
      profileName: last(split(id, '/'))
      appPrincipalId: identity.outputs.principalId
    }
  }
]

module apimAccess 'modules/apimAccess.bicep' = [
  for id in apimServices: {
    name: 'apimAccess-${uniqueString(id)}'
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
    params: {
      serviceName: last(split(id, '/'))
      appPrincipalId: identity.outputs.principalId
    }
  }
]

module aksAccess 'modules/aksAccess.bicep' = [
  for id in aksClusters: {
    name: 'aksAccess-${uniqueString(id)}'
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
    params: {
      clusterName: last(split(id, '/'))
      namespaces: namespaces
      appPrincipalId: identity.outputs.principalId
    }
  }
]

// ---- Key Vault events ------------------------------------------------------------------------------

// A system topic lives in its source's region: read each vault's location (a runtime value, which
// a module parameter can carry).
resource vaultRefs 'Microsoft.KeyVault/vaults@2023-07-01' existing = [
  for id in vaults: {
    name: last(split(id, '/'))
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  }
]

module vaultEvents 'modules/vaultEvents.bicep' = [
  for (id, i) in vaults: {
    name: 'vaultEvents-${uniqueString(id)}'
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
    params: {
      vaultName: last(split(id, '/'))
      location: vaultRefs[i].location
      actionGroupId: monitoring.outputs.actionGroupId
      tags: tags
    }
  }
]

module deadLetterAccess 'modules/deadLetterAccess.bicep' = [
  for (id, i) in vaults: {
    name: 'deadLetterAccess-${uniqueString(id)}'
    scope: rg
    params: {
      storageAccountName: storage.outputs.name
      deadLetterContainerName: deadLetterContainerName
      topicPrincipalId: vaultEvents[i].outputs.principalId
    }
  }
]

module vaultEventSubscription 'modules/vaultEventSubscription.bicep' = [
  for (id, i) in vaults: if (deployEventSubscriptions) {
    name: 'vaultEventSubscription-${uniqueString(id)}'
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
    params: {
      systemTopicName: vaultEvents[i].outputs.systemTopicName
      functionAppId: functionApp.outputs.id
      storageAccountId: storage.outputs.id
      deadLetterContainerName: deadLetterContainerName
    }
    dependsOn: [deadLetterAccess]
  }
]

output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_CLIENT_ID string = identity.outputs.clientId
output OUTCOME_TOPIC_ENDPOINT string = outcomeTopic.outputs.endpoint
output DEPLOY_EVENT_SUBSCRIPTIONS bool = deployEventSubscriptions
