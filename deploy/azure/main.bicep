// Elevate on Azure Container Apps, highly available: an Azure Database for PostgreSQL flexible
// server (zone-redundant HA) as the store, at least two replicas (one leads, the others stand
// by and forward the chat requests they get to it through the database), a user-assigned
// managed identity that is the Teams bot's identity (Azure Bot, msaAppType UserAssignedMSI),
// reads Key Vault and logs in to PostgreSQL, Key Vault references for every secret, and Log
// Analytics for the logs. docs/deploy.md walks through it.
//
// The database has no password and no internet endpoint: Microsoft Entra authentication only
// (passwordAuth Disabled), an Entra administrator that is the operator's group or user (a
// parameter), never the app; the app logs in as its identity's own non-admin role, which the
// administrator creates once after the deployment (docs/deploy.md, "The database role"). The
// server sits in a subnet of this template's VNet (private access), its name resolved by a
// private DNS zone linked to the VNet; the Container Apps environment (workload profiles) has its
// own subnet in the same VNet. No firewall rule exists: publicNetworkAccess is Disabled.
//
// NOT DEPLOYED FROM THE REPOSITORY: the development machines have no Azure access and no Bicep
// CLI. Every resource type and API version below is a documented one (Azure Resource Manager
// template reference, learn.microsoft.com/azure/templates/<provider>/<version>/<type>), and
// deploy/azure/bicep_test.go checks the file's structure; run `az bicep build --file main.bicep`
// and a what-if deployment before the first real one.
//
//   az deployment group create -g <rg> --template-file deploy/azure/main.bicep \
//     --parameters @deploy/azure/main.parameters.json elevateConfig="$(cat elevate.yaml)" \
//     graphClientSecret=<secret> postgresAdminObjectId=<object id> postgresAdminName=<display name> \
//     [slackBotToken=… slackSigningSecret=…]

@description('Name prefix for every resource (lowercase letters and digits, 3-12).')
@minLength(3)
@maxLength(12)
param name string = 'elevate'

@description('Azure region of everything but the bot (the Azure Bot resource is global).')
param location string = resourceGroup().location

@description('The Elevate container image, by digest: <registry>.azurecr.io/elevate@sha256:...')
param image string

@description('The Azure Container Registry server (<registry>.azurecr.io) in this resource group that the image comes from: the identity gets AcrPull on that registry and pulls with it. Empty for a public image.')
param registryServer string = ''

@description('Elevate\'s public host name, the Container App\'s custom domain or its default FQDN once known; users\' browsers return to https://<publicHost>/auth/callback.')
param publicHost string

@description('The Entra tenant id.')
param tenantId string = subscription().tenantId

@description('The app registration\'s client id (Graph reads and users\' sign-in, docs/deploy.md step 1).')
param graphClientId string

@description('The app registration\'s client secret (users\' sign-in), stored in Key Vault as azure-client-secret.')
@secure()
param graphClientSecret string

@description('The elevate.yaml configuration (docs/config.md), without secrets.')
param elevateConfig string

@description('Teams channel mapping (TEAMS_CHANNELS), e.g. #pim-approvals=19:...@thread.tacv2; empty to learn channels from Teams.')
param teamsChannels string = ''

@description('Slack bot token (xoxb-...); empty to run without Slack. Stored in Key Vault.')
@secure()
param slackBotToken string = ''

@description('Slack signing secret; with slackBotToken. Stored in Key Vault.')
@secure()
param slackSigningSecret string = ''

@description('The object id of the Microsoft Entra group (or user) that administers PostgreSQL: the operators, never the app. Its members create the app\'s database role after the deployment.')
param postgresAdminObjectId string

@description('That group\'s display name (or the user\'s user principal name): the role name its members log in to PostgreSQL with.')
param postgresAdminName string

@description('Whether postgresAdminObjectId is a Group (recommended) or a User.')
@allowed(['Group', 'User'])
param postgresAdminType string = 'Group'

@description('The VNet\'s address space; the three subnets below must lie in it.')
param vnetAddressPrefix string = '10.40.0.0/16'

@description('The Container Apps environment\'s subnet (workload profiles environment: /27 at least; it cannot be resized later).')
param appsSubnetPrefix string = '10.40.0.0/26'

@description('The PostgreSQL server\'s subnet (/28 at least; high availability takes four addresses).')
param postgresSubnetPrefix string = '10.40.1.0/28'

@description('A subnet for an operator\'s jump host, the only way to reach the database from outside the app (docs/deploy.md).')
param adminSubnetPrefix string = '10.40.2.0/28'

@description('PostgreSQL compute SKU (General Purpose or Memory Optimized: Burstable has no high availability).')
param postgresSku string = 'Standard_D2ds_v5'

@description('PostgreSQL high availability: ZoneRedundant (a standby in another zone) or SameZone.')
@allowed(['ZoneRedundant', 'SameZone'])
param postgresHighAvailability string = 'ZoneRedundant'

@description('Replicas of Elevate: one leads, the others take over within seconds. At least 2.')
@minValue(2)
@maxValue(5)
param minReplicas int = 2

@description('Log retention in the Log Analytics workspace, in days.')
param logRetentionDays int = 30

var suffix = uniqueString(resourceGroup().id)
var keyVaultName = take('${name}-kv-${suffix}', 24)
var publicURL = 'https://${publicHost}'
// Key Vault Secrets User: read secret values, nothing else.
var keyVaultSecretsUser = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
// AcrPull: pull images, nothing else.
var acrPull = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')
var slackEnabled = !empty(slackBotToken)

// learn.microsoft.com/azure/templates/microsoft.operationalinsights/2022-10-01/workspaces
resource logs 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: '${name}-logs-${suffix}'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

// learn.microsoft.com/azure/templates/microsoft.managedidentity/2023-01-31/userassignedidentities
// The bot's identity (Azure Bot msaAppId), and Key Vault's and the registry's reader.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-id'
  location: location
}

// learn.microsoft.com/azure/templates/microsoft.keyvault/2023-07-01/vaults
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  properties: {
    tenantId: tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
  }
}

// learn.microsoft.com/azure/templates/microsoft.authorization/2022-04-01/roleassignments
resource vaultReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: keyVaultSecretsUser
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// learn.microsoft.com/azure/templates/microsoft.containerregistry/2023-07-01/registries
// The registry the image comes from, in this resource group: <name>.azurecr.io. Only referenced.
resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: empty(registryServer) ? 'none' : split(registryServer, '.')[0]
}

// The pull right on that registry alone, not on the resource group (which would let the
// identity pull from every registry in it).
resource registryPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(registryServer)) {
  name: guid(registry.id, identity.id, acrPull)
  scope: registry
  properties: {
    roleDefinitionId: acrPull
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// learn.microsoft.com/azure/templates/microsoft.network/2024-05-01/virtualnetworks
// Subnets per learn.microsoft.com/azure/container-apps/custom-virtual-networks (a workload
// profiles environment takes a subnet of /27 or more delegated to Microsoft.App/environments) and
// learn.microsoft.com/azure/postgresql/flexible-server/concepts-networking-private (a subnet
// delegated to Microsoft.DBforPostgreSQL/flexibleServers, /28 or more, for the server alone).
resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: '${name}-vnet'
  location: location
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: appsSubnetPrefix
          delegations: [
            {
              name: 'containerapps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: postgresSubnetPrefix
          delegations: [
            {
              name: 'postgres'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
      {
        name: 'admin'
        properties: {
          addressPrefix: adminSubnetPrefix
        }
      }
    ]
  }
}

// learn.microsoft.com/azure/templates/microsoft.network/2020-06-01/privatednszones
// The zone the server's private address is registered in. A template must create it, with a name
// ending in .postgres.database.azure.com that is not the server's own name
// (learn.microsoft.com/azure/postgresql/flexible-server/concepts-networking-private).
resource postgresDns 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: '${name}.private.postgres.database.azure.com'
  location: 'global'
}

// learn.microsoft.com/azure/templates/microsoft.network/2020-06-01/privatednszones/virtualnetworklinks
// Linked to the VNet, so the app (and a jump host in the admin subnet) resolves the server's
// name to its private address.
resource postgresDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: postgresDns
  name: '${name}-vnet'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

// learn.microsoft.com/azure/templates/microsoft.dbforpostgresql/2024-08-01/flexibleservers
resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: '${name}-pg-${suffix}'
  location: location
  sku: {
    name: postgresSku
    tier: 'GeneralPurpose'
  }
  properties: {
    version: '16'
    // Microsoft Entra only: no password role exists, so none can leak.
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: tenantId
    }
    storage: {
      storageSizeGB: 32
    }
    backup: {
      backupRetentionDays: 14
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: postgresHighAvailability
    }
    network: {
      publicNetworkAccess: 'Disabled'
      delegatedSubnetResourceId: resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'postgres')
      privateDnsZoneArmResourceId: postgresDns.id
    }
  }
  dependsOn: [
    postgresDnsLink
  ]
}

// learn.microsoft.com/azure/templates/microsoft.dbforpostgresql/2024-08-01/flexibleservers/administrators
// The operators' group is the Entra administrator (a member of azure_pg_admin); the app is not.
// The resource's name is the principal's object id.
resource postgresAdmin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: postgres
  name: postgresAdminObjectId
  properties: {
    principalName: postgresAdminName
    principalType: postgresAdminType
    tenantId: tenantId
  }
}

// learn.microsoft.com/azure/templates/microsoft.dbforpostgresql/2024-08-01/flexibleservers/databases
resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: 'elevate'
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  // After the administrator, so that the two changes to the server do not run at once.
  dependsOn: [
    postgresAdmin
  ]
}

// learn.microsoft.com/azure/templates/microsoft.keyvault/2023-07-01/vaults/secrets
resource clientSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'azure-client-secret'
  properties: {
    value: graphClientSecret
  }
}

resource slackToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (slackEnabled) {
  parent: vault
  name: 'slack-bot-token'
  properties: {
    value: slackBotToken
  }
}

resource slackSigning 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (slackEnabled) {
  parent: vault
  name: 'slack-signing-secret'
  properties: {
    value: slackSigningSecret
  }
}

// learn.microsoft.com/azure/templates/microsoft.app/2024-03-01/managedenvironments
resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${name}-env'
  location: location
  properties: {
    // A workload profiles environment in the VNet's apps subnet: it reaches the database's
    // private address. Its ingress stays public (internal: false): Slack and Teams call it.
    vnetConfiguration: {
      infrastructureSubnetId: resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'apps')
      internal: false
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
    zoneRedundant: false
  }
}

// The database URL is no secret: it names the server, the database and the identity's role, and
// holds no password (the role logs in with the identity's Entra token).
var databaseURL = 'postgres://${identity.name}@${postgres.properties.fullyQualifiedDomainName}:5432/${database.name}?sslmode=verify-full'

var keyVaultSecrets = concat([
  { name: 'azure-client-secret', keyVaultUrl: clientSecret.properties.secretUri, identity: identity.id }
], slackEnabled ? [
  { name: 'slack-bot-token', keyVaultUrl: slackToken.properties.secretUri, identity: identity.id }
  { name: 'slack-signing-secret', keyVaultUrl: slackSigning.properties.secretUri, identity: identity.id }
] : [])

var teamsChannelsEnv = empty(teamsChannels) ? [] : [
  { name: 'TEAMS_CHANNELS', value: teamsChannels }
]

var slackEnv = slackEnabled ? [
  { name: 'SLACK_BOT_TOKEN', secretRef: 'slack-bot-token' }
  { name: 'SLACK_SIGNING_SECRET', secretRef: 'slack-signing-secret' }
] : []

// learn.microsoft.com/azure/templates/microsoft.app/2024-03-01/containerapps
resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  dependsOn: [
    vaultReader
    registryPull
  ]
  properties: {
    managedEnvironmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 8080
        transport: 'http'
        allowInsecure: false
      }
      registries: empty(registryServer) ? [] : [
        {
          server: registryServer
          identity: identity.id
        }
      ]
      // Key Vault references, read with the identity; the config is a plain secret so that it
      // can be mounted as a file.
      secrets: concat(keyVaultSecrets, [
        { name: 'elevate-config', value: elevateConfig }
      ])
    }
    template: {
      containers: [
        {
          name: 'elevate'
          image: image
          args: [
            'serve'
            '-config'
            '/etc/elevate/elevate.yaml'
          ]
          env: concat([
            { name: 'ELEVATE_LISTEN', value: ':8080' }
            { name: 'ELEVATE_METRICS_ADDR', value: ':9090' }
            { name: 'ELEVATE_PUBLIC_URL', value: publicURL }
            { name: 'ELEVATE_DATABASE_URL', value: databaseURL }
            // Entra authentication to PostgreSQL with the identity (not AZURE_CLIENT_ID, the
            // app registration Graph uses).
            { name: 'ELEVATE_DATABASE_AUTH', value: 'entra' }
            { name: 'ELEVATE_DATABASE_CLIENT_ID', value: identity.properties.clientId }
            { name: 'AZURE_TENANT_ID', value: tenantId }
            { name: 'AZURE_CLIENT_ID', value: graphClientId }
            { name: 'AZURE_CLIENT_SECRET', secretRef: 'azure-client-secret' }
            { name: 'MICROSOFT_APP_TYPE', value: 'UserAssignedMSI' }
            { name: 'MICROSOFT_APP_ID', value: identity.properties.clientId }
            { name: 'MICROSOFT_APP_TENANT_ID', value: tenantId }
          ], teamsChannelsEnv, slackEnv)
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          probes: [
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: 8080
              }
              periodSeconds: 10
              failureThreshold: 3
            }
            {
              // 200 on the leader once started, and on a standby while a leader that takes
              // forwarded requests serves: in single revision mode a new revision's replicas
              // become ready under the old revision's leader, so an image update completes.
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: 8080
              }
              periodSeconds: 5
              failureThreshold: 2
            }
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: 8080
              }
              periodSeconds: 2
              failureThreshold: 30
            }
          ]
          volumeMounts: [
            {
              volumeName: 'config'
              mountPath: '/etc/elevate'
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'config'
          storageType: 'Secret'
          secrets: [
            {
              secretRef: 'elevate-config'
              path: 'elevate.yaml'
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: minReplicas
      }
    }
  }
}

// learn.microsoft.com/azure/templates/microsoft.botservice/2022-09-15/botservices
// The Azure Bot, single-tenant with the managed identity: no secret to rotate. Elevate gets the
// bot's Bot Connector tokens from the identity endpoint Container Apps provides.
resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: '${name}-bot-${suffix}'
  location: 'global'
  kind: 'azurebot'
  sku: {
    name: 'S1'
  }
  properties: {
    displayName: 'Elevate'
    endpoint: '${publicURL}/api/messages'
    msaAppId: identity.properties.clientId
    msaAppType: 'UserAssignedMSI'
    msaAppMSIResourceId: identity.id
    msaAppTenantId: tenantId
  }
}

// learn.microsoft.com/azure/templates/microsoft.botservice/2022-09-15/botservices/channels
resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
    }
  }
}

@description('The Container App\'s default host name: point publicHost (or a CNAME) at it.')
output appFqdn string = app.properties.configuration.ingress.fqdn

@description('The managed identity\'s client id: the bot\'s Microsoft App ID, for `elevate manifest teams`.')
output botAppId string = identity.properties.clientId

@description('The Key Vault holding the secrets.')
output keyVault string = vault.name

@description('The PostgreSQL server\'s host name (resolvable inside the VNet only).')
output postgresHost string = postgres.properties.fullyQualifiedDomainName

@description('The database role to create for the app (docs/deploy.md, "The database role"): the managed identity\'s name.')
output databaseRole string = identity.name

@description('The URL Elevate uses: no password, the identity\'s role, TLS verified.')
output databaseURL string = databaseURL
