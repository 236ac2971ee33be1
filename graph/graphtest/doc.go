// Package graphtest is a simulated Entra ID tenant for tests and the offline demo: a stateful fake
// of the Microsoft Graph endpoints Elevate uses (users, groups, PIM schedule instances and requests,
// role management policies, beta approvals, sign-in and directory audit logs) and of the Entra v2.0
// sign-in endpoints MSAL Go uses (OpenID configuration, authorize with PKCE, token, JWKS), seeded
// from YAML (ParseSeed; the demo tenant is examples/tenant.yaml).
//
// It speaks the documented wire formats (reference/graph-pim.md) so that the real msgraph and MSAL
// clients can be tested against it, and enforces what PIM enforces on selfActivate: the caller's
// own delegated token, eligibility (direct or through groups), maximum duration, MFA, justification,
// ticket, authentication context, approval and duplicate activations.
//
// Graph is served over plain HTTP on 127.0.0.1 (the msgraph client allows http for localhost); the
// sign-in server uses TLS because MSAL insists on https, and MSAL must run with instance discovery
// disabled. Tokens are RS256 JWTs signed with a key generated per tenant, so a token from one
// tenant is refused by another. Time comes from WithClock everywhere, tokens included.
//
// Besides the HTTP endpoints, tests and the demo can script the tenant: UserToken and AppToken
// mint tokens without the browser flow; PortalActivate, AssignPermanent, SetPolicy and
// SimulateSignIn change it behind Elevate's back; Throttle, WithPageSize and WithActivationDelay
// make it behave like a busy Graph; Calls shows what a client sent.
//
// It imports only the standard library, golang-jwt and yaml, to stay fast to build.
package graphtest
