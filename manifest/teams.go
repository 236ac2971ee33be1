package manifest

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"text/template"
)

//go:generate go run gen_icons.go

//go:embed teams/manifest.json.tmpl teams/color.png teams/outline.png
var teamsFiles embed.FS

// Teams describes the Teams app package. BotID is required; the rest has defaults.
type Teams struct {
	BotID string // the Azure Bot's Microsoft App ID (MICROSOFT_APP_ID)
	// AppID is the Teams app's own id (a GUID). When empty it is derived from BotID, so that
	// every package made for the same bot updates the same app.
	AppID         string
	Version       string // "1.0.0" when empty; bump it to upload a new version
	ShortName     string // "Elevate" when empty (at most 30 characters)
	DeveloperName string
	WebsiteURL    string // the service's public URL (ELEVATE_PUBLIC_URL); its host becomes a valid domain
	// PrivacyURL and TermsURL are the pages Teams links to; by default the ones Elevate serves,
	// WebsiteURL + "/privacy" and "/terms". Without a WebsiteURL they must be given.
	PrivacyURL   string
	TermsURL     string
	ValidDomains []string
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (t *Teams) fill() error {
	if !guidRe.MatchString(t.BotID) {
		return fmt.Errorf("manifest: the bot id %q is not a GUID: set MICROSOFT_APP_ID to the Azure Bot's Microsoft App ID", t.BotID)
	}
	if t.AppID == "" {
		t.AppID = derivedID(t.BotID)
	}
	if !guidRe.MatchString(t.AppID) {
		return fmt.Errorf("manifest: the Teams app id %q is not a GUID", t.AppID)
	}
	def := func(s *string, v string) {
		if strings.TrimSpace(*s) == "" {
			*s = v
		}
	}
	def(&t.Version, "1.0.0")
	def(&t.ShortName, "Elevate")
	def(&t.DeveloperName, "Elevate")
	if strings.TrimSpace(t.WebsiteURL) != "" {
		base := strings.TrimRight(t.WebsiteURL, "/")
		def(&t.PrivacyURL, base+"/privacy")
		def(&t.TermsURL, base+"/terms")
	}
	if strings.TrimSpace(t.PrivacyURL) == "" || strings.TrimSpace(t.TermsURL) == "" {
		return errors.New("manifest: Teams links to a privacy statement and terms of use: give Elevate's public URL (it serves /privacy and /terms) or both page URLs")
	}
	def(&t.WebsiteURL, "https://github.com/elevate-pim/elevate")
	if len(t.ShortName) > 30 {
		return errors.New("manifest: the short name is longer than 30 characters")
	}
	for _, u := range []string{t.WebsiteURL, t.PrivacyURL, t.TermsURL} {
		p, err := url.Parse(u)
		if err != nil || p.Scheme != "https" || p.Host == "" {
			return fmt.Errorf("manifest: %q must be an https URL (Teams refuses others)", u)
		}
	}
	if p, err := url.Parse(t.WebsiteURL); err == nil && p.Hostname() != "" && !strings.Contains(t.WebsiteURL, "github.com") {
		t.ValidDomains = appendNew(t.ValidDomains, p.Hostname())
	}
	if t.ValidDomains == nil {
		t.ValidDomains = []string{}
	}
	return nil
}

func appendNew(ss []string, s string) []string {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}

// derivedID is a stable GUID (UUID v5 layout over SHA-1) for a bot id.
func derivedID(botID string) string {
	h := sha1.Sum([]byte("elevate-teams-app:" + strings.ToLower(botID)))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// TeamsManifest returns manifest.json filled in from t.
func TeamsManifest(t Teams) ([]byte, error) {
	if err := t.fill(); err != nil {
		return nil, err
	}
	tmpl, err := template.New("manifest.json.tmpl").Funcs(template.FuncMap{"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}}).ParseFS(teamsFiles, "teams/manifest.json.tmpl")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, t); err != nil {
		return nil, err
	}
	if !json.Valid(buf.Bytes()) {
		return nil, errors.New("manifest: the template produced invalid JSON")
	}
	return buf.Bytes(), nil
}

// WriteTeamsPackage writes the Teams app package: a zip with manifest.json and the two icons at
// its root, ready for Teams admin center or "Upload a custom app".
func WriteTeamsPackage(w io.Writer, t Teams) error {
	m, err := TeamsManifest(t)
	if err != nil {
		return err
	}
	z := zip.NewWriter(w)
	files := []struct {
		name string
		data []byte
	}{{"manifest.json", m}}
	for _, icon := range []string{"color.png", "outline.png"} {
		b, err := teamsFiles.ReadFile("teams/" + icon)
		if err != nil {
			return err
		}
		files = append(files, struct {
			name string
			data []byte
		}{icon, b})
	}
	for _, f := range files {
		fw, err := z.Create(f.name)
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.data); err != nil {
			return err
		}
	}
	return z.Close()
}
