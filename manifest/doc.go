// Package manifest makes the chat platforms' app packages: the Teams app package (manifest.json
// from an embedded template, schema 1.19, with icons drawn by gen_icons.go), written by
// `elevate manifest teams -o app.zip`.
package manifest
