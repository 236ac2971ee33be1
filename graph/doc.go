// Package graph is Elevate's only door to Microsoft Graph and Entra ID: PIM reads with the
// bot's app-only identity, the user's own selfActivate with their delegated token, role
// policies, and the user's sign-in (authorization code + PKCE through MSAL Go).
//
// It is the only package that imports the Graph SDK, and only its plumbing: msgraph-sdk-go-core's
// request adapter, middleware and authentication, and msgraph-sdk-go's error types
// (models/odataerrors). Every request is a raw JSON request through that adapter (raw.go), read
// into this package's own small types: msgraph-sdk-go's models package and its request builders
// are not linked (a cold build of models alone took 68 s and 4.4 GB; imports_test.go forbids
// them). Nothing from the SDK appears in this package's API; SDK errors become *Error, which
// errors.Is matches against the sentinels (ErrNotFound, ErrThrottled, ...).
//
// Wire choices worth knowing (see reference/graph-pim.md):
//   - request compression is off client-wide: a retried POST could otherwise carry a gzip
//     header over a plain body (kiota-http-go #183);
//   - the allowed hosts for the bearer token are exactly the configured Graph host: anything
//     else would silently send no token;
//   - ODataError.Error() panics on empty bodies, so errors are read field by field.
package graph
