package examples

import _ "embed"

// Tenant is the demo tenant's seed for graphtest.ParseSeed: Contoso's users, groups, eligible
// roles, PIM policies, standing assignments and break-glass accounts.
//
//go:embed tenant.yaml
var Tenant []byte
