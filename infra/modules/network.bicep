// A virtual network with the Function App's integration subnet, for deployments that do not bring
// their own. Flex Consumption needs the subnet delegated to Microsoft.App/environments. To reach a
// private AKS API server and private endpoints, peer this network with theirs (or pass an existing
// subnet to main.bicep instead).

param name string
param addressPrefix string
param subnetPrefix string
param location string
param tags object = {}

resource vnet 'Microsoft.Network/virtualNetworks@2024-01-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [addressPrefix] }
    subnets: [
      {
        name: 'snet-functions'
        properties: {
          addressPrefix: subnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: { serviceName: 'Microsoft.App/environments' }
            }
          ]
        }
      }
    ]
  }
}

output subnetId string = '${vnet.id}/subnets/snet-functions'
