// Package examples holds the example files shipped with Elevate, embedded so that `elevate demo`
// runs without any file on disk.
package examples

import _ "embed"

// Config is elevate.yaml: the documented example config and the demo's default.
//
//go:embed elevate.yaml
var Config []byte
