package manifest

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const botID = "b07e0000-0000-4000-8000-0000000000b1"

func TestTeamsPackage(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTeamsPackage(&buf, Teams{BotID: botID, WebsiteURL: "https://elevate.contoso.example", Version: "1.2.0"}); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range z.File {
		if strings.Contains(f.Name, "/") {
			t.Errorf("%s is not at the zip's root", f.Name)
		}
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	if len(files) != 3 {
		t.Fatalf("package holds %d files, want manifest.json, color.png, outline.png", len(files))
	}

	var m struct {
		Schema          string `json:"$schema"`
		ManifestVersion string
		Version         string
		ID              string
		Developer       struct{ Name, WebsiteURL, PrivacyURL, TermsOfUseURL string }
		Name            struct{ Short, Full string }
		Description     struct{ Short, Full string }
		Icons           struct{ Color, Outline string }
		AccentColor     string
		Bots            []struct {
			BotID        string
			Scopes       []string
			CommandLists []struct {
				Scopes   []string
				Commands []struct{ Title, Description string }
			}
		}
		ValidDomains []string
	}
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	major, minor, _ := strings.Cut(m.ManifestVersion, ".")
	if n, _ := strconv.Atoi(minor); major != "1" || n < 19 || !strings.Contains(m.Schema, "v"+m.ManifestVersion+"/") {
		t.Errorf("manifest version %q (schema %q), want 1.19 or later and a matching schema", m.ManifestVersion, m.Schema)
	}
	for name, v := range map[string]string{"version": m.Version, "id": m.ID, "developer.name": m.Developer.Name,
		"developer.websiteUrl": m.Developer.WebsiteURL, "developer.privacyUrl": m.Developer.PrivacyURL, "developer.termsOfUseUrl": m.Developer.TermsOfUseURL,
		"name.short": m.Name.Short, "name.full": m.Name.Full, "description.short": m.Description.Short, "description.full": m.Description.Full,
		"icons.color": m.Icons.Color, "icons.outline": m.Icons.Outline, "accentColor": m.AccentColor} {
		if v == "" {
			t.Errorf("required field %s is empty", name)
		}
	}
	if len(m.Name.Short) > 30 || len(m.Description.Short) > 80 || len(m.Description.Full) > 4000 || len(m.Name.Full) > 100 {
		t.Errorf("a name or description is too long for Teams")
	}
	if m.Version != "1.2.0" || !guidRe.MatchString(m.ID) || m.ID == botID {
		t.Errorf("version %q id %q", m.Version, m.ID)
	}
	if len(m.Bots) != 1 || m.Bots[0].BotID != botID || !slices.Contains(m.Bots[0].Scopes, "personal") || !slices.Contains(m.Bots[0].Scopes, "team") {
		t.Fatalf("bots: %+v", m.Bots)
	}
	if len(m.Bots[0].CommandLists) == 0 || len(m.Bots[0].CommandLists) > 3 {
		t.Errorf("%d command lists", len(m.Bots[0].CommandLists))
	}
	for _, cl := range m.Bots[0].CommandLists {
		if len(cl.Commands) > 10 {
			t.Errorf("command list %v has %d commands, Teams allows 10", cl.Scopes, len(cl.Commands))
		}
		for _, c := range cl.Commands {
			if len(c.Title) > 32 || len(c.Description) > 128 {
				t.Errorf("command %q too long", c.Title)
			}
		}
	}
	if !slices.Contains(m.ValidDomains, "elevate.contoso.example") {
		t.Errorf("validDomains %v lack the service's host", m.ValidDomains)
	}

	for name, size := range map[string]int{m.Icons.Color: 192, m.Icons.Outline: 32} {
		img, err := png.Decode(bytes.NewReader(files[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Errorf("%s is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), size, size)
		}
	}
	// The outline icon is white on transparent, nothing else.
	img, _ := png.Decode(bytes.NewReader(files[m.Icons.Outline]))
	var white, clear int
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			switch {
			case a == 0:
				clear++
			case r == 0xffff && g == 0xffff && b == 0xffff && a == 0xffff:
				white++
			default:
				t.Fatalf("outline pixel (%d,%d) is neither white nor transparent: %v", x, y, img.At(x, y))
			}
		}
	}
	if white == 0 || clear == 0 {
		t.Errorf("outline: %d white, %d transparent pixels", white, clear)
	}
}

func TestTeamsManifestErrors(t *testing.T) {
	for name, tm := range map[string]Teams{
		"no bot id":       {},
		"bot id not guid": {BotID: "elevate"},
		"http website":    {BotID: botID, WebsiteURL: "http://elevate.example"},
		"bad app id":      {BotID: botID, AppID: "x"},
		"no legal pages":  {BotID: botID},
		"no terms":        {BotID: botID, PrivacyURL: "https://contoso.example/privacy"},
	} {
		if _, err := TeamsManifest(tm); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	a, errA := TeamsManifest(Teams{BotID: botID, WebsiteURL: "https://elevate.contoso.example"})
	b, errB := TeamsManifest(Teams{BotID: botID, WebsiteURL: "https://elevate.contoso.example"})
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Error("the same inputs gave different manifests")
	}
}

// The privacy and terms links point at the pages Elevate serves, not at the bare public URL
// (which answers 404), unless the organization gives its own.
func TestTeamsLegalURLs(t *testing.T) {
	var m struct {
		Developer struct{ PrivacyURL, TermsOfUseURL string }
	}
	b, err := TeamsManifest(Teams{BotID: botID, WebsiteURL: "https://elevate.contoso.example/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Developer.PrivacyURL != "https://elevate.contoso.example/privacy" || m.Developer.TermsOfUseURL != "https://elevate.contoso.example/terms" {
		t.Errorf("privacy %q, terms %q", m.Developer.PrivacyURL, m.Developer.TermsOfUseURL)
	}
	b, err = TeamsManifest(Teams{BotID: botID, PrivacyURL: "https://contoso.example/privacy.html", TermsURL: "https://contoso.example/terms.html"})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Developer.PrivacyURL != "https://contoso.example/privacy.html" || m.Developer.TermsOfUseURL != "https://contoso.example/terms.html" {
		t.Errorf("own pages: privacy %q, terms %q", m.Developer.PrivacyURL, m.Developer.TermsOfUseURL)
	}
}
