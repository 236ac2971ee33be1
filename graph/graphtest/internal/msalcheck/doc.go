// Package msalcheck holds only tests: it drives the simulated tenant with the real MSAL Go and
// azidentity clients, so that graphtest itself need not import them.
package msalcheck
