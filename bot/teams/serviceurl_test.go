package teams_test

import (
	"testing"

	"github.com/elevate-pim/elevate/bot/teams"
)

func TestServiceURLs(t *testing.T) {
	def, err := teams.NewServiceURLs(nil)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := teams.NewServiceURLs([]string{"smba.example.cloud", "127.0.0.1:8443", "Bots.Example:443"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		allow *teams.ServiceURLs
		url   string
		ok    bool
	}{
		{def, "https://smba.trafficmanager.net/amer/", true},
		{def, "https://smba.trafficmanager.net/teams/", true},
		{def, "https://SMBA.trafficmanager.net:443/emea/", true},
		{def, "https://smba.infra.gcc.teams.microsoft.com/teams", true},
		{def, "https://smba.infra.gov.teams.microsoft.us/teams", true},
		{def, "https://smba.infra.dod.teams.microsoft.us/teams", true},
		{def, "http://smba.trafficmanager.net/amer/", false},
		{def, "https://smba.trafficmanager.net:8443/amer/", false},
		{def, "https://smba.trafficmanager.net.evil.example/amer/", false},
		{def, "https://evil.example/smba.trafficmanager.net/", false},
		{def, "https://user@smba.trafficmanager.net/amer/", false},
		{def, "https://smba.trafficmanager.net./amer/", false},
		{def, "smba.trafficmanager.net/amer/", false},
		{def, "", false},
		{def, "https://127.0.0.1:8443/amer/", false},
		{custom, "https://127.0.0.1:8443/amer/", true},
		{custom, "https://127.0.0.1/amer/", false},
		{custom, "https://bots.example/x/", true},
		{custom, "https://smba.example.cloud/", true},
		{custom, "https://smba.trafficmanager.net/amer/", false}, // a list replaces the defaults
	}
	for _, c := range cases {
		if err := c.allow.Check(c.url); (err == nil) != c.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", c.url, err, c.ok)
		}
	}
	for _, bad := range [][]string{{"https://smba.trafficmanager.net"}, {"smba.trafficmanager.net/amer"}, {"*.trafficmanager.net"}, {" ", ""}, {":443"}} {
		if _, err := teams.NewServiceURLs(bad); err == nil {
			t.Errorf("NewServiceURLs(%q) accepted", bad)
		}
	}
}
