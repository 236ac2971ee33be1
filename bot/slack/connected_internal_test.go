package slack

import (
	"context"
	"testing"
)

func TestConnectedCheck(t *testing.T) {
	a, err := New(Options{BotToken: "xoxb-test", SigningSecret: "s", APIURL: "http://127.0.0.1:1/"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	if err := a.Connected(ctx); err != nil {
		t.Errorf("HTTP only: %v, want ready", err)
	}
	a.socketOn.Store(true)
	if err := a.Connected(ctx); err == nil {
		t.Error("socket mode on but not connected: ready")
	}
	a.socketUp.Store(true)
	if err := a.Connected(ctx); err != nil {
		t.Errorf("socket connected: %v", err)
	}
}
