package slack

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestManifest(t *testing.T) {
	for _, c := range []struct {
		name string
		o    ManifestOptions
		want []string
		not  []string
	}{
		{"http", ManifestOptions{PublicURL: "https://elevate.contoso.example/"},
			[]string{"url: https://elevate.contoso.example/slack/commands", "request_url: https://elevate.contoso.example/slack/interactivity",
				"request_url: https://elevate.contoso.example/slack/events", "socket_mode_enabled: false", "- users:read.email", "- files:write", "command: /elevate", "- app_home_opened"},
			nil},
		{"socket", ManifestOptions{Socket: true, Name: "PIM"},
			[]string{"socket_mode_enabled: true", "name: PIM", "- commands", "- chat:write", "- im:write", "- users:read"},
			[]string{"url:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := Manifest(c.o)
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			if err := yaml.Unmarshal(out, &v); err != nil {
				t.Fatalf("not YAML: %v\n%s", err, out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("manifest lacks %q:\n%s", w, out)
				}
			}
			for _, w := range c.not {
				if strings.Contains(string(out), w) {
					t.Errorf("manifest has %q:\n%s", w, out)
				}
			}
		})
	}
	if _, err := Manifest(ManifestOptions{}); err == nil {
		t.Error("a manifest for HTTP without a URL")
	}
}
