// Package graphtest is a simulated Entra ID tenant for tests and the offline demo: a stateful fake
// of the Microsoft Graph endpoints Elevate uses (users, groups, PIM schedule instances and requests,
// role management policies, beta approvals) and of the Entra v2.0 sign-in endpoints MSAL Go uses
// (OpenID configuration, authorize with PKCE, token, JWKS), seeded from YAML.
//
// It speaks the documented wire formats (reference/graph-pim.md) so that the real msgraph and MSAL
// clients can be tested against it, and enforces what PIM enforces on selfActivate: the caller's
// own delegated token, eligibility (direct or through groups), maximum duration, MFA, justification,
// ticket, authentication context, approval and duplicate activations.
//
// Graph is served over plain HTTP on 127.0.0.1 (the msgraph client allows http for localhost); the
// sign-in server uses TLS because MSAL insists on https. Tokens are RS256 JWTs signed with a key
// generated per tenant, so a token from one tenant is refused by another.
//
// It imports only the standard library, golang-jwt and yaml, to stay fast to build.
package graphtest
