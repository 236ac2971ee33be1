// Package graph is Elevate's only door to Microsoft Graph and Entra ID: PIM reads with the
// bot's app-only identity, the user's own selfActivate with their delegated token, role
// policies, and the user's sign-in (authorization code + PKCE through MSAL Go).
//
// It is the only package that imports msgraph-sdk-go, and only its sub-packages (models,
// users, rolemanagement, policies): the root GraphServiceClient package costs minutes of build
// time and tens of megabytes. Nothing from the SDK appears in this package's API; SDK errors
// become *Error, which errors.Is matches against the sentinels (ErrNotFound, ErrThrottled, ...).
//
// Wire choices worth knowing (see reference/graph-pim.md):
//   - request compression is off client-wide: a retried POST could otherwise carry a gzip
//     header over a plain body (kiota-http-go #183);
//   - the allowed hosts for the bearer token are exactly the configured Graph host: anything
//     else would silently send no token;
//   - ODataError.Error() panics on empty bodies, so errors are read field by field.
package graph
