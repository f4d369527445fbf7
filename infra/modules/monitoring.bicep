// Log Analytics workspace, workspace-based Application Insights, and the action group that alerts
// (dead-lettered Key Vault events) notify.

param logAnalyticsName string
param applicationInsightsName string
param actionGroupName string

@description('E-mail address that receives alerts; empty for an action group without receivers.')
param alertEmail string = ''

param location string
param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'certrot'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

output applicationInsightsConnectionString string = appInsights.properties.ConnectionString
output actionGroupId string = actionGroup.id
