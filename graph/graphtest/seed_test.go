package graphtest_test

import (
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

func TestDemoSeed(t *testing.T) {
	tn, _ := newDemo(t)
	if got := tn.TenantID(); got != "7c3a0000-0000-4000-8000-00000000c0de" {
		t.Errorf("tenant %s", got)
	}
	if got := tn.BreakGlass(); len(got) != 2 || got[0] != "0b9a0000-0000-4000-8000-000000000001" {
		t.Errorf("break glass %v", got)
	}
	for upn, id := range map[string]string{"alice@contoso.example": alice, "bob@contoso.example": bob,
		"carol@contoso.example": carol, "dave@contoso.example": dave, "erin@contoso.example": erin} {
		if got := tn.UserID(upn); got != id {
			t.Errorf("UserID(%s) = %s, want %s", upn, got, id)
		}
	}
}

const minimal = `
tenant_id: 7c3a0000-0000-4000-8000-00000000c0de
client: {client_id: e1e70000-0000-4000-8000-0000000000a9, client_secret: s}
users:
  - {id: 11111111-1111-4111-8111-111111111111, upn: alice@x.example}
`

func TestParseSeedErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"unknown field", minimal + "colour: red\n", []string{"colour"}},
		{"bad tenant", strings.Replace(minimal, "7c3a0000-0000-4000-8000-00000000c0de", "contoso", 1),
			[]string{"seed:2: tenant_id", `"contoso" is not a GUID`}},
		{"no secret", strings.Replace(minimal, ", client_secret: s", "", 1), []string{"client.client_secret: missing"}},
		{"unknown principal", minimal + "eligibilities:\n  - {principal: bob@x.example, role: Exchange Administrator}\n",
			[]string{"seed:7: eligibilities[0].principal", `"bob@x.example" is not a user or group`}},
		{"unknown role", minimal + "eligibilities:\n  - {principal: alice@x.example, role: Exchange Admin}\n",
			[]string{"eligibilities[0].role", `"Exchange Admin" is not a role`}},
		{"bad duration", minimal + "policies:\n  - {role: Global Administrator, max_duration: 8 hours}\n",
			[]string{"not a duration"}},
		{"duration too long", minimal + "policies:\n  - {role: Global Administrator, max_duration: P2D}\n",
			[]string{"policies[0].max_duration", "out of range"}},
		{"duplicate user", minimal + "  - {id: 11111111-1111-4111-8111-111111111111, upn: b@x.example}\n",
			[]string{"users[1].id", "already used"}},
		{"group cycle", minimal + `groups:
  - {id: 9a000000-0000-4000-8000-000000000001, display_name: A, members: [B]}
  - {id: 9a000000-0000-4000-8000-000000000002, display_name: B, members: [A]}
`, []string{"cycle"}},
		{"approval without approvers", minimal + "policies:\n  - role: Global Administrator\n    approval: {approvers: []}\n",
			[]string{"at least one approver"}},
		{"break glass group", minimal + "groups:\n  - {id: 9a000000-0000-4000-8000-000000000001, display_name: G}\nbreak_glass: [G]\n",
			[]string{"break_glass[0]", "not a user"}},
		{"two problems", minimal + "eligibilities:\n  - {principal: nobody, role: nothing}\n",
			[]string{"eligibilities[0].principal", "eligibilities[0].role"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := graphtest.ParseSeed([]byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseSeedDurations(t *testing.T) {
	for _, d := range []string{"PT2H", "2h", "PT1H30M", "90m", "P1D"} {
		if _, err := graphtest.ParseSeed([]byte(minimal + "policies:\n  - {role: Global Administrator, max_duration: " + d + "}\n")); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}

func TestNewChecksGoSeeds(t *testing.T) {
	_, err := graphtest.New(graphtest.Seed{TenantID: "x"})
	if err == nil || !strings.Contains(err.Error(), "tenant_id") {
		t.Errorf("got %v", err)
	}
}
