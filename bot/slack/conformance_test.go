package slack_test

import (
	"testing"

	"github.com/elevate-pim/elevate/bot/bottest"
)

// TestConformance plays the conformance story over signed HTTP requests.
func TestConformance(t *testing.T) {
	e := start(t, false)
	bottest.Run(t, e.w, platform{e})
}

// TestConformanceSocketMode plays it over Socket Mode's WebSocket.
func TestConformanceSocketMode(t *testing.T) {
	e := start(t, true)
	bottest.Run(t, e.w, platform{e})
}
