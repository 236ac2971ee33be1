package slack

import (
	"errors"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"
)

// BotScopes are the bot token scopes Elevate needs: the slash command, posting (cards, replies,
// DMs), opening DMs, reading users and their emails (a login hint, and users.lookupByEmail to
// reach people for the access review; never identity), sharing files (the digest's chart),
// reading channels' names and membership (conversations.info and .list: `elevate check` proves
// each configured channel exists and the bot is in it; member_joined_channel tells Elevate it was
// invited), and reading the history of the conversations it posts in (conversations.history:
// a post whose answer was lost is looked for, by its metadata, before it is posted again, and
// the files shared below it by their names; see docs/security.md).
var BotScopes = []string{"commands", "chat:write", "im:write", "users:read", "users:read.email", "files:write", "channels:read", "groups:read",
	"channels:history", "groups:history", "im:history"}

// ManifestOptions say how the Slack app reaches Elevate.
type ManifestOptions struct {
	Name string // the app's name in Slack; "Elevate" when empty
	// PublicURL is where Slack sends HTTP requests (https://elevate.example.com); the
	// endpoints /slack/commands, /slack/interactivity and /slack/events hang off it.
	PublicURL string
	// Socket enables Socket Mode: Slack needs no URL at all, Elevate connects out.
	Socket  bool
	Command string // "/elevate" when empty
}

// Manifest is the Slack app manifest (YAML) for an Elevate installation: paste it at
// https://api.slack.com/apps → Create New App → From a manifest.
func Manifest(o ManifestOptions) ([]byte, error) {
	if o.Name == "" {
		o.Name = "Elevate"
	}
	if o.Command == "" {
		o.Command = "/elevate"
	}
	base := ""
	if !o.Socket {
		u, err := url.Parse(o.PublicURL)
		if o.PublicURL == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, errors.New("slack manifest: Slack needs Elevate's public https URL (-url or ELEVATE_PUBLIC_URL), or Socket Mode (-socket)")
		}
		base = strings.TrimRight(o.PublicURL, "/")
	}
	at := func(path string) string {
		if base == "" {
			return ""
		}
		return base + path
	}
	type command struct {
		Command      string `yaml:"command"`
		URL          string `yaml:"url,omitempty"`
		Description  string `yaml:"description"`
		UsageHint    string `yaml:"usage_hint"`
		ShouldEscape bool   `yaml:"should_escape"`
	}
	m := struct {
		Metadata struct {
			Major int `yaml:"major_version"`
		} `yaml:"_metadata"`
		Display struct {
			Name        string `yaml:"name"`
			Description string `yaml:"description"`
			LongDesc    string `yaml:"long_description"`
			Background  string `yaml:"background_color"`
		} `yaml:"display_information"`
		Features struct {
			AppHome struct {
				Home     bool `yaml:"home_tab_enabled"`
				Messages bool `yaml:"messages_tab_enabled"`
				ReadOnly bool `yaml:"messages_tab_read_only_enabled"`
			} `yaml:"app_home"`
			BotUser struct {
				Name   string `yaml:"display_name"`
				Online bool   `yaml:"always_online"`
			} `yaml:"bot_user"`
			Commands []command `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				URL    string   `yaml:"request_url,omitempty"`
				Events []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool   `yaml:"is_enabled"`
				URL     string `yaml:"request_url,omitempty"`
			} `yaml:"interactivity"`
			OrgDeploy     bool `yaml:"org_deploy_enabled"`
			Socket        bool `yaml:"socket_mode_enabled"`
			TokenRotation bool `yaml:"token_rotation_enabled"`
		} `yaml:"settings"`
	}{}
	m.Metadata.Major = 1
	m.Display.Name = o.Name
	m.Display.Description = "Just-in-time admin roles through Microsoft Entra PIM"
	m.Display.LongDesc = "Elevate turns /elevate exchange 4h fixing mail flow into your own PIM activation, after your own Microsoft sign-in: " +
		"MFA, a justification, approvers' buttons where policy asks for them, and a tamper-evident audit log. " +
		"The app's own identity can only read; every activation is made with the requesting user's delegated token."
	m.Display.Background = "#1d3557"
	m.Features.AppHome.Home = true
	m.Features.AppHome.Messages = true
	m.Features.AppHome.ReadOnly = true
	m.Features.BotUser.Name = o.Name
	m.Features.BotUser.Online = true
	m.Features.Commands = []command{{Command: o.Command, URL: at("/slack/commands"), Description: "Activate an admin role through PIM",
		UsageHint: "exchange 4h fixing mail flow · exchange,sharepoint 1h … · status · roles · help (alone: a form)"}}
	m.OAuth.Scopes.Bot = BotScopes
	m.Settings.Events.URL = at("/slack/events")
	m.Settings.Events.Events = []string{"app_home_opened", "member_joined_channel"}
	m.Settings.Interactivity.Enabled = true
	m.Settings.Interactivity.URL = at("/slack/interactivity")
	m.Settings.Socket = o.Socket
	return yaml.Marshal(m)
}
