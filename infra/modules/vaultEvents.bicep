// The Event Grid system topic of one Key Vault, with its own identity (it dead-letters into
// storage that has no keys), and an alert as soon as one event is dead-lettered.

param vaultName string

@description('Region of the vault (a system topic lives in its source\'s region).')
param location string

param tags object = {}

@description('Resource id of the action group the alert notifies.')
param actionGroupId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: 'evgt-${vaultName}'
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-deadlettered-${vaultName}'
  location: 'global'
  tags: tags
  properties: {
    description: 'A Key Vault certificate event for ${vaultName} could not be delivered to keyVaultEvents and was dead-lettered: that rotation never started.'
    severity: 1
    enabled: true
    scopes: [systemTopic.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'deadLettered'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      { actionGroupId: actionGroupId }
    ]
  }
}

output systemTopicName string = systemTopic.name
output principalId string = systemTopic.identity.principalId
