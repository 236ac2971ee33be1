package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Parse reads a config file. filename is only used in error messages. On any problem it returns
// ConfigErrors: every problem found, each with its line, in plain words.
func Parse(filename string, data []byte) (*Config, error) {
	p := &parser{file: filename}
	c := p.parse(data)
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
		return nil, p.errs
	}
	c.indexRoles()
	return c, nil
}

type parser struct {
	file string
	errs ConfigErrors
	// groupEntries are the PIM for Groups entries (config `groups:`), checked for name clashes
	// with the roles and added to the catalogue after them.
	groupEntries []*roleEntry
	// explicitBudget marks roles whose extension_budget the file sets.
	explicitBudget map[*Role]bool
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, &ConfigError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) parse(data []byte) *Config {
	c := &Config{
		Tenant:          Tenant{GraphURL: DefaultGraphURL, AuthorityHost: DefaultAuthorityHost},
		RequestExpiry:   DefaultRequestExpiry,
		SignInFreshness: DefaultSignInFreshness,
		DirectMessages:  "last",
		FailureAlert:    FailureAlert{Count: 3, Within: time.Hour},
	}
	c.DefaultTicketPattern = regexp.MustCompile(DefaultTicketPattern)

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if err != nil && !errors.Is(err, io.EOF) {
		p.yamlError(err)
		return nil
	}
	var top *yaml.Node
	if err == nil && len(doc.Content) > 0 {
		top = doc.Content[0]
		var next yaml.Node
		if err := dec.Decode(&next); err == nil {
			p.errorf(next.Line, "a second YAML document (after ---): the config is one document")
		} else if !errors.Is(err, io.EOF) {
			p.yamlError(err)
		}
	}

	f := p.mapping(top, "", []string{"version", "tenant", "channels", "request_expiry", "sign_in_freshness", "ticket_pattern", "roles", "users", "schedules", "baseline", "admins", "groups", "identity", "pilot", "direct_messages", "failure_alert"})
	if n := f.get("version"); n != nil {
		if v, ok := p.integer(n, "version"); ok && v != 1 {
			p.errorf(n.Line, "version: %d is not a config version this Elevate knows (it knows 1)", v)
		}
	}
	p.tenant(f.get("tenant"), &c.Tenant)
	p.channels(f.get("channels"), &c.Channels)
	if n := f.get("request_expiry"); n != nil {
		if d, ok := p.duration(n, "request_expiry"); ok {
			if d < 5*time.Minute || d > 24*time.Hour {
				p.errorf(n.Line, "request_expiry: %s is out of range: a pending request should expire after between 5m and 24h", formatDuration(d))
			} else {
				c.RequestExpiry = d
			}
		}
	}
	if n := f.get("sign_in_freshness"); n != nil {
		if d, ok := p.duration(n, "sign_in_freshness"); ok {
			if d < time.Minute || d > 12*time.Hour {
				p.errorf(n.Line, "sign_in_freshness: %s is out of range: use between 1m and 12h (15m is the default)", formatDuration(d))
			} else {
				c.SignInFreshness = d
			}
		}
	}
	if n := f.get("ticket_pattern"); n != nil {
		if re, ok := p.ticketPattern(n, "ticket_pattern"); ok {
			c.DefaultTicketPattern = re
		}
	}
	p.users(f.get("users"), &c.Users)
	p.admins(f.get("admins"), &c.Admins)
	p.pilot(f.get("pilot"), c)
	if n := f.get("failure_alert"); n != nil {
		p.failureAlert(n, &c.FailureAlert)
	}
	if n := f.get("direct_messages"); n != nil {
		if s, ok := p.str(n, "direct_messages"); ok {
			switch strings.ToLower(s) {
			case "last", "all":
				c.DirectMessages = strings.ToLower(s)
			default:
				p.errorf(resolve(n).Line, "direct_messages: %q should be last (the platform the person last used) or all (every platform they are on)", s)
			}
		}
	}
	p.identity(f.get("identity"), &c.Identity)
	p.groups(f.get("groups"), c)
	p.roles(f.get("roles"), c)
	p.schedules(f.get("schedules"), f.get("baseline"), c) // schedule.go
	return c
}

// yamlError turns a YAML syntax error into a ConfigError with its line.
func (p *parser) yamlError(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			p.yamlMessage(e)
		}
		return
	}
	p.yamlMessage(err.Error())
}

func (p *parser) yamlMessage(s string) {
	if m := yamlLine.FindStringSubmatch(s); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.errorf(line, "this is not valid YAML: %s", m[2])
		return
	}
	p.errorf(0, "this is not valid YAML: %s", strings.TrimPrefix(s, "yaml: "))
}

// fields is a checked mapping: key name → value node, plus the key nodes for their lines.
type fields struct {
	vals map[string]*yaml.Node
	keys map[string]*yaml.Node
}

func (f fields) get(k string) *yaml.Node { return f.vals[k] }

// keyLine is the line of key k, for errors about a whole entry.
func (f fields) keyLine(k string) int {
	if n := f.keys[k]; n != nil {
		return n.Line
	}
	return 0
}

// secretEnv maps keys that hold secrets to the environment variable that should hold them.
var secretEnv = map[string]string{
	"client_secret":          "AZURE_CLIENT_SECRET",
	"secret":                 "AZURE_CLIENT_SECRET",
	"password":               "AZURE_CLIENT_SECRET",
	"certificate_password":   "AZURE_CLIENT_CERTIFICATE_PASSWORD",
	"bot_token":              "SLACK_BOT_TOKEN",
	"slack_bot_token":        "SLACK_BOT_TOKEN",
	"signing_secret":         "SLACK_SIGNING_SECRET",
	"slack_signing_secret":   "SLACK_SIGNING_SECRET",
	"app_token":              "SLACK_APP_TOKEN",
	"slack_app_token":        "SLACK_APP_TOKEN",
	"app_password":           "MICROSOFT_APP_PASSWORD",
	"microsoft_app_password": "MICROSOFT_APP_PASSWORD",
}

// secretKey reports whether a key looks like it holds a secret, and which variable to use.
func secretKey(k string) (string, bool) {
	k = strings.ToLower(k)
	if env, ok := secretEnv[k]; ok {
		return env, true
	}
	for _, w := range []string{"secret", "password", "passwd", "token", "private_key", "privatekey", "api_key", "apikey", "credential"} {
		if strings.Contains(k, w) {
			return "", true
		}
	}
	return "", false
}

// resolve follows YAML aliases (*anchor) to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// mapping checks that n is a mapping with only known keys, and returns its fields. A missing or
// empty mapping gives no fields and no error: every setting has a default.
func (p *parser) mapping(n *yaml.Node, path string, known []string) fields {
	f := fields{vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	n = resolve(n)
	if isNull(n) {
		return f
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "%s should be a set of `key: value` settings, not %s", orTop(path), describe(n))
		return f
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, "%s: a key must be a plain word, not %s", orTop(path), describe(k))
			continue
		}
		name := k.Value
		full := join(path, name)
		if k.ShortTag() == "!!merge" {
			p.errorf(k.Line, "%s: merge keys (<<) aren't supported; write the settings out", orTop(path))
			continue
		}
		if env, ok := secretKey(name); ok {
			if env != "" {
				p.errorf(k.Line, "%s: secrets never go in the config file — set %s in the environment instead", full, env)
			} else {
				p.errorf(k.Line, "%s: this looks like a secret, and secrets never go in the config file — put it in the environment (AZURE_CLIENT_SECRET, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN, MICROSOFT_APP_PASSWORD)", full)
			}
			continue
		}
		if !contains(known, name) {
			cands := make([]candidate, len(known))
			for j, w := range known {
				cands[j] = candidate{w, w}
			}
			sugg := suggest(name, cands)
			if lower := strings.ToLower(name); lower != name && contains(known, lower) {
				sugg = []string{lower}
			}
			msg := fmt.Sprintf("%s: unknown setting %q", orTop(path), name)
			if len(sugg) > 0 {
				msg += didYouMean(sugg)
			} else {
				msg += " (known here: " + strings.Join(known, ", ") + ")"
			}
			p.errorf(k.Line, "%s", msg)
			continue
		}
		if prev, dup := f.keys[name]; dup {
			p.errorf(k.Line, "%s appears twice (first on line %d)", full, prev.Line)
			continue
		}
		if isNull(v) && v.LineComment == "" {
			// `approvals: #pim` puts the comment on the key; keep it with the value for the hint.
			v.LineComment = k.LineComment
		}
		f.keys[name] = k
		f.vals[name] = v
	}
	return f
}

func orTop(path string) string {
	if path == "" {
		return "the config"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// describe names a node's kind for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a set of settings"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "this"
}

// str reads a single value as text. A value that YAML read as empty because it began with #
// (a comment) gets a hint, since `approvals: #pim-approvals` is the commonest mistake.
func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n.Line, "%s should be a single value, not %s", path, describe(n))
		return "", false
	}
	if isNull(n) {
		if strings.HasPrefix(n.LineComment, "#") {
			p.errorf(n.Line, "%s is empty: YAML reads # as the start of a comment, so quote it: %q", path, strings.TrimSpace(n.LineComment))
		} else {
			p.errorf(n.Line, "%s is empty: give a value or leave the line out", path)
		}
		return "", false
	}
	return strings.TrimSpace(n.Value), true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	p.errorf(n.Line, "%s: %q should be true or false", path, s)
	return false, false
}

func (p *parser) integer(n *yaml.Node, path string) (int, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 1000 {
		p.errorf(n.Line, "%s: %q should be a whole number", path, s)
		return 0, false
	}
	return v, true
}

func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	d, looks, perr := parseDuration(s)
	switch {
	case perr != nil && perr.Offer > 0:
		p.errorf(n.Line, "%s: %q is not a duration — write %s (durations look like 30m, 4h, 1h30m)", path, s, formatDuration(perr.Offer))
	case perr != nil || !looks:
		p.errorf(n.Line, "%s: %q is not a duration (use 30m, 4h, 1h30m)", path, s)
	default:
		return d, true
	}
	return 0, false
}

func (p *parser) regex(n *yaml.Node, path string) (*regexp.Regexp, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return nil, false
	}
	re, err := regexp.Compile(s)
	if err != nil {
		p.errorf(n.Line, "%s: %q is not a valid regular expression: %s", path, s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return nil, false
	}
	return re, true
}

// ticketPattern is a regex that must not match empty text: such a pattern would find a
// "ticket" in every justification.
func (p *parser) ticketPattern(n *yaml.Node, path string) (*regexp.Regexp, bool) {
	re, ok := p.regex(n, path)
	if !ok {
		return nil, false
	}
	if matchesEmpty(re) {
		p.errorf(n.Line, "%s: %q matches empty text, so every justification would seem to have a ticket", path, re.String())
		return nil, false
	}
	return re, true
}

// matchesEmpty reports whether re can match empty text, in an empty string or between words.
func matchesEmpty(re *regexp.Regexp) bool {
	if re.MatchString("") {
		return true
	}
	for _, loc := range re.FindAllStringIndex("fix INC-1234 now", -1) {
		if loc[0] == loc[1] {
			return true
		}
	}
	return false
}

// list reads a sequence (or a single value, as a list of one) of text values.
func (p *parser) list(n *yaml.Node, path string) ([]string, []*yaml.Node) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []string
	var nodes []*yaml.Node
	for i, it := range items {
		if s, ok := p.str(it, fmt.Sprintf("%s[%d]", path, i)); ok {
			out = append(out, s)
			nodes = append(nodes, resolve(it))
		}
	}
	return out, nodes
}

// sequence returns the items of a list, or an error if n is not one.
func (p *parser) sequence(n *yaml.Node, path, what string) []*yaml.Node {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "%s should be a list of %s (each item starting with -), not %s", path, what, describe(n))
		return nil
	}
	return n.Content
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isGUID(s string) bool { return guidRe.MatchString(s) }

// isUPN is a loose check: user@domain with a dot in the domain, no spaces.
func isUPN(s string) bool {
	at := strings.LastIndex(s, "@")
	return at > 0 && at < len(s)-1 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, " \t<>")
}

func (p *parser) guid(n *yaml.Node, path, what string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if !isGUID(s) {
		p.errorf(resolve(n).Line, "%s: %q is not %s (a GUID like 62e90394-69f5-4237-9190-012177145e10)", path, s, what)
		return "", false
	}
	return strings.ToLower(s), true
}

var domainRe = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+$`)

func (p *parser) tenant(n *yaml.Node, t *Tenant) {
	f := p.mapping(n, "tenant", []string{"tenant_id", "client_id", "graph_url", "authority_host", "redirect_url"})
	if v := f.get("tenant_id"); v != nil {
		if s, ok := p.str(v, "tenant.tenant_id"); ok {
			if isGUID(s) || domainRe.MatchString(s) {
				t.TenantID = strings.ToLower(s)
			} else {
				p.errorf(v.Line, "tenant.tenant_id: %q is neither a tenant id (a GUID) nor a domain like contoso.onmicrosoft.com", s)
			}
		}
	}
	if v := f.get("client_id"); v != nil {
		if s, ok := p.guid(v, "tenant.client_id", "an application (client) id"); ok {
			t.ClientID = s
		}
	}
	if v := f.get("graph_url"); v != nil {
		if s, ok := p.url(v, "tenant.graph_url", false); ok {
			s = strings.TrimRight(s, "/")
			if strings.HasSuffix(s, "/v1.0") || strings.HasSuffix(s, "/beta") {
				p.errorf(v.Line, "tenant.graph_url: leave out the version (/v1.0 or /beta); Elevate adds it, e.g. https://graph.microsoft.com")
			} else {
				t.GraphURL = s
			}
		}
	}
	if v := f.get("authority_host"); v != nil {
		if s, ok := p.url(v, "tenant.authority_host", true); ok {
			t.AuthorityHost = strings.TrimRight(s, "/") + "/"
		}
	}
	if v := f.get("redirect_url"); v != nil {
		if s, ok := p.url(v, "tenant.redirect_url", false); ok {
			if err := CheckRedirectURL(s); err != nil {
				p.errorf(v.Line, "tenant.redirect_url: %v", err)
			} else {
				t.RedirectURL = s
			}
		}
	}
}

// CheckRedirectURL refuses a sign-in redirect URL that Entra would refuse or that would carry
// users' authorization codes in the clear: plain http is accepted only for a loopback host
// (localhost, 127.0.0.1, [::1]), as Entra itself does.
func CheckRedirectURL(s string) error {
	rest, ok := strings.CutPrefix(s, "http://")
	if !ok {
		return nil
	}
	host, _, _ := strings.Cut(rest, "/")
	if h, _, ok := strings.Cut(strings.TrimPrefix(host, "["), "]"); ok && strings.HasPrefix(host, "[") {
		host = h
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.") {
		return nil
	}
	return fmt.Errorf("%q uses http:// for %s, which is not this machine: use https:// (Entra accepts http redirect URIs only for localhost, and the sign-in's authorization code must not cross a network in the clear)", s, host)
}

// url checks an absolute http(s) URL. httpsOnly refuses plain http outright; otherwise the
// caller decides (tests and the demo use http on loopback addresses).
func (p *parser) url(n *yaml.Node, path string, httpsOnly bool) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	rest, isHTTPS := strings.CutPrefix(s, "https://")
	if !isHTTPS {
		var isHTTP bool
		rest, isHTTP = strings.CutPrefix(s, "http://")
		if !isHTTP {
			p.errorf(n.Line, "%s: %q should be a URL starting with https://", path, s)
			return "", false
		}
		if httpsOnly {
			p.errorf(n.Line, "%s: %q must use https:// (sign-in needs TLS)", path, s)
			return "", false
		}
	}
	host, _, _ := strings.Cut(rest, "/")
	if host == "" || strings.ContainsAny(s, " \t\"'<>") {
		p.errorf(n.Line, "%s: %q is not a valid URL", path, s)
		return "", false
	}
	return s, true
}

func (p *parser) channels(n *yaml.Node, ch *Channels) {
	f := p.mapping(n, "channels", []string{"approvals", "security", "digest"})
	for _, c := range []struct {
		key string
		dst *string
	}{{"approvals", &ch.Approvals}, {"security", &ch.Security}, {"digest", &ch.Digest}} {
		if v := f.get(c.key); v != nil {
			if s, ok := p.str(v, "channels."+c.key); ok {
				*c.dst = s
			}
		}
	}
}

func (p *parser) users(n *yaml.Node, u *Users) {
	f := p.mapping(n, "users", []string{"break_glass", "externals"})
	seen := map[string]int{}
	ids, nodes := p.list(f.get("break_glass"), "users.break_glass")
	for i, id := range ids {
		path := fmt.Sprintf("users.break_glass[%d]", i)
		if !isGUID(id) {
			if isUPN(id) {
				p.errorf(nodes[i].Line, "%s: %q is a UPN; list break-glass accounts by object id (a GUID), which can't be renamed", path, id)
			} else {
				p.errorf(nodes[i].Line, "%s: %q is not an object id (a GUID like 0b9a0000-0000-4000-8000-000000000001)", path, id)
			}
			continue
		}
		id = strings.ToLower(id)
		if line, dup := seen[id]; dup {
			p.errorf(nodes[i].Line, "%s: %s is listed twice (first on line %d)", path, id, line)
			continue
		}
		seen[id] = nodes[i].Line
		u.BreakGlass = append(u.BreakGlass, id)
	}
	seenExt := map[string]int{}
	for i, item := range p.sequence(f.get("externals"), "users.externals", "consultants") {
		path := fmt.Sprintf("users.externals[%d]", i)
		ef := p.mapping(item, path, []string{"user", "contract_end"})
		var e External
		ok := true
		if v := ef.get("user"); v == nil {
			p.errorf(resolve(item).Line, "%s: user is missing (an object id or UPN)", path)
			ok = false
		} else if s, sok := p.str(v, path+".user"); !sok {
			ok = false
		} else if !isGUID(s) && !isUPN(s) {
			p.errorf(v.Line, "%s.user: %q is neither an object id (GUID) nor a UPN (name@domain)", path, s)
			ok = false
		} else if line, dup := seenExt[strings.ToLower(s)]; dup {
			p.errorf(v.Line, "%s.user: %s is listed twice (first on line %d)", path, s, line)
			ok = false
		} else {
			seenExt[strings.ToLower(s)] = v.Line
			e.User = s
		}
		if v := ef.get("contract_end"); v == nil {
			p.errorf(resolve(item).Line, "%s: contract_end is missing (the date the contract ends, e.g. 2027-06-30)", path)
			ok = false
		} else if s, sok := p.str(v, path+".contract_end"); !sok {
			ok = false
		} else if t, err := parseContractEnd(s); err != nil {
			p.errorf(v.Line, "%s.contract_end: %q is not a date: write 2027-06-30 (the end of that day, UTC) or 2027-06-30T17:00:00+02:00", path, s)
			ok = false
		} else {
			e.ContractEnd = t
		}
		if ok {
			u.Externals = append(u.Externals, e)
		}
	}
}

// parseContractEnd reads a date (the contract runs to the end of that day, UTC) or a timestamp.
func parseContractEnd(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	return time.Parse(time.RFC3339, s)
}

var aliasRe = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,39}$`)

var roleKeys = []string{"name", "template_id", "enabled", "aliases", "max_duration", "default_duration",
	"justification", "ticket", "approval", "tier0", "approval_channel", "extension_budget"}

// roleEntry is a role being built, with the lines its keys came from for conflict messages.
type roleEntry struct {
	role      *Role
	enabled   bool
	line      int            // line of the config entry (0 for a built-in the file doesn't mention)
	aliasLine map[string]int // alias → line it was added on (0 for built-in aliases)
}

func (p *parser) roles(n *yaml.Node, c *Config) {
	var entries []*roleEntry
	byTemplate := map[string]*roleEntry{}
	for _, b := range catalogue {
		r := &Role{
			Name: b.name, TemplateID: b.templateID, Aliases: append([]string(nil), b.aliases...),
			MaxDuration: DefaultMaxDuration, JustificationRequired: true, Tier0: b.tier0,
			BuiltIn: true, example: b.example,
		}
		e := &roleEntry{role: r, enabled: true, aliasLine: map[string]int{}}
		for _, a := range r.Aliases {
			e.aliasLine[a] = 0
		}
		entries = append(entries, e)
		byTemplate[b.templateID] = e
	}
	explicitDefault := map[*Role]bool{}

	for i, item := range p.sequence(n, "roles", "roles") {
		path := fmt.Sprintf("roles[%d]", i)
		item = resolve(item)
		f := p.mapping(item, path, roleKeys)
		if item == nil || item.Kind != yaml.MappingNode {
			continue
		}
		e := p.roleTarget(f, item, path, entries, byTemplate)
		if e == nil {
			continue
		}
		if e.line != 0 {
			p.errorf(item.Line, "%s: %s is already configured on line %d; put its settings in one entry", path, e.role.Name, e.line)
			// Check the settings anyway, on a copy, so their errors show in the same run.
			dup := *e.role
			e = &roleEntry{role: &dup, enabled: true, line: item.Line, aliasLine: maps.Clone(e.aliasLine)}
			p.roleSettings(f, path, e, c, explicitDefault)
			continue
		}
		e.line = item.Line
		if e.role.example == "" {
			e.role.example = "what you're fixing"
		}
		if !e.role.BuiltIn {
			entries = append(entries, e)
			byTemplate[e.role.TemplateID] = e
		}
		p.roleSettings(f, path, e, c, explicitDefault)
	}

	entries = append(entries, p.groupEntries...)
	for _, e := range entries {
		r := e.role
		if !explicitDefault[r] && !(r.Group && r.DefaultDuration > 0) {
			r.DefaultDuration = min(DefaultDefaultDuration, r.MaxDuration)
		}
		if !p.explicitBudget[r] {
			r.ExtensionBudget = r.MaxDuration
		}
		if r.TicketPattern == nil {
			r.TicketPattern = c.DefaultTicketPattern
		}
		if e.enabled {
			c.Roles = append(c.Roles, r)
		} else {
			c.disabled = append(c.disabled, r)
		}
	}
	p.checkNames(entries)
}

// roleTarget finds which role a config entry is about: a built-in named by name, alias or
// template id, or a new custom role (which needs a name and a template id).
func (p *parser) roleTarget(f fields, item *yaml.Node, path string, entries []*roleEntry, byTemplate map[string]*roleEntry) *roleEntry {
	var name, tid string
	nameNode, tidNode := f.get("name"), f.get("template_id")
	if nameNode != nil {
		var ok bool
		if name, ok = p.str(nameNode, path+".name"); ok && name == "" {
			p.errorf(nameNode.Line, "%s.name is empty", path)
		}
	}
	if tidNode != nil {
		tid, _ = p.guid(tidNode, path+".template_id", "a role template id")
	}
	if name == "" && tid == "" {
		if nameNode == nil && tidNode == nil {
			p.errorf(item.Line, "%s: name is missing (a built-in role like \"Exchange Administrator\", or a custom role's name with its template_id)", path)
		}
		return nil
	}
	var byName *roleEntry
	if name != "" {
		key := normalize(name)
		for _, e := range entries {
			if e.role.BuiltIn && contains(e.role.keys(), key) {
				byName = e
				break
			}
		}
	}
	var byID *roleEntry
	if tid != "" {
		if e := byTemplate[tid]; e != nil && e.role.BuiltIn {
			byID = e
		}
	}
	switch {
	case byName != nil && tid != "" && byID != byName:
		p.errorf(tidNode.Line, "%s.template_id: %s is built in with template id %s; leave template_id out", path, byName.role.Name, byName.role.TemplateID)
		return nil
	case byName != nil:
		return byName
	case byID != nil:
		if name != "" {
			p.errorf(nameNode.Line, "%s.name: template id %s is the built-in %s, not %q; leave name out or use %q", path, tid, byID.role.Name, name, byID.role.Name)
			return nil
		}
		return byID
	}
	// A custom role.
	if name == "" {
		p.errorf(tidNode.Line, "%s: a custom role needs a name (what people see, e.g. \"Mailbox Support\")", path)
		return nil
	}
	if tid == "" {
		if tidNode != nil {
			return nil // the template id's own error was reported
		}
		var cands []candidate
		for _, e := range entries {
			if e.role.BuiltIn {
				cands = append(cands, candidate{normalize(e.role.Name), e.role.Name})
				for _, a := range e.role.Aliases {
					cands = append(cands, candidate{a, e.role.Name})
				}
			}
		}
		sugg := suggest(normalize(name), cands)
		msg := fmt.Sprintf("%s.name: %q is not a built-in role", path, name)
		if len(sugg) > 0 {
			for j, s := range sugg {
				if e := findRole(rolesOf(entries), s); e != nil {
					sugg[j] = e.Name
				}
			}
			msg += didYouMean(sugg)
			msg += " A custom role also needs its template_id."
		} else {
			msg += "; a custom role needs its template_id (the roleDefinitionId, a GUID)"
		}
		p.errorf(nameNode.Line, "%s", msg)
		return nil
	}
	if e := byTemplate[tid]; e != nil {
		p.errorf(tidNode.Line, "%s.template_id: %s is already used by %s on line %d", path, tid, e.role.Name, e.line)
		return nil
	}
	if first := strings.Fields(normalize(name))[0]; reservedWords[first] || isDurationLike(first) {
		// ParseCommand reads the first word as a command or a duration before any role name.
		p.errorf(nameNode.Line, "%s.name: %q can't be a role name: its first word would read as a command word or a duration", path, name)
		return nil
	}
	return &roleEntry{
		role: &Role{Name: strings.Join(strings.Fields(name), " "), TemplateID: tid, MaxDuration: DefaultMaxDuration,
			JustificationRequired: true},
		enabled:   true,
		aliasLine: map[string]int{},
	}
}

func rolesOf(entries []*roleEntry) []*Role {
	rs := make([]*Role, len(entries))
	for i, e := range entries {
		rs[i] = e.role
	}
	return rs
}

func (p *parser) roleSettings(f fields, path string, e *roleEntry, c *Config, explicitDefault map[*Role]bool) {
	r := e.role
	if v := f.get("enabled"); v != nil {
		if b, ok := p.boolean(v, path+".enabled"); ok {
			e.enabled = b
		}
	}
	if v := f.get("tier0"); v != nil {
		if b, ok := p.boolean(v, path+".tier0"); ok {
			r.Tier0 = b
		}
	}
	if v := f.get("approval_channel"); v != nil {
		if s, ok := p.str(v, path+".approval_channel"); ok {
			r.ApprovalChannel = s
		}
	}
	aliases, nodes := p.list(f.get("aliases"), path+".aliases")
	for i, a := range aliases {
		apath := fmt.Sprintf("%s.aliases[%d]", path, i)
		a = strings.ToLower(a)
		switch {
		case reservedWords[a]:
			p.errorf(nodes[i].Line, "%s: %q is a command word, so it can't be an alias (reserved: %s)", apath, a, reservedList())
		case !aliasRe.MatchString(a):
			if _, looks, _ := parseDuration(a); looks {
				p.errorf(nodes[i].Line, "%s: %q looks like a duration, so it can't be an alias", apath, a)
			} else {
				p.errorf(nodes[i].Line, "%s: %q should be one word (letters, digits, . _ -) starting with a letter", apath, a)
			}
		default:
			if line, dup := e.aliasLine[a]; dup {
				if line == 0 {
					p.errorf(nodes[i].Line, "%s: %q is already a built-in alias of %s", apath, a, r.Name)
				} else {
					p.errorf(nodes[i].Line, "%s: %q is listed twice (first on line %d)", apath, a, line)
				}
				continue
			}
			e.aliasLine[a] = nodes[i].Line
			r.Aliases = append(r.Aliases, a)
		}
	}

	maxNode := f.get("max_duration")
	if maxNode != nil {
		if d, ok := p.duration(maxNode, path+".max_duration"); ok {
			switch {
			case d > PIMMaxDuration:
				p.errorf(maxNode.Line, "%s.max_duration: %s is longer than PIM allows for an activation (24h)", path, formatDuration(d))
			case d < MinDuration:
				p.errorf(maxNode.Line, "%s.max_duration: %s is too short to be useful (at least %s)", path, formatDuration(d), formatDuration(MinDuration))
			default:
				r.MaxDuration = d
			}
		}
	}
	if v := f.get("default_duration"); v != nil {
		if d, ok := p.duration(v, path+".default_duration"); ok {
			switch {
			case d > r.MaxDuration:
				p.errorf(v.Line, "%s.default_duration: %s is longer than max_duration (%s)", path, formatDuration(d), formatDuration(r.MaxDuration))
			case d < MinDuration:
				p.errorf(v.Line, "%s.default_duration: %s is too short (at least %s)", path, formatDuration(d), formatDuration(MinDuration))
			default:
				r.DefaultDuration = d
				explicitDefault[r] = true
			}
		}
	}
	if v := f.get("extension_budget"); v != nil {
		if p.explicitBudget == nil {
			p.explicitBudget = map[*Role]bool{}
		}
		if s := strings.ToLower(strings.TrimSpace(resolve(v).Value)); resolve(v).Kind == yaml.ScalarNode && (s == "none" || s == "0" || s == "false") {
			r.ExtensionBudget, p.explicitBudget[r] = 0, true
		} else if d, ok := p.duration(v, path+".extension_budget"); ok {
			if d > PIMMaxDuration {
				p.errorf(v.Line, "%s.extension_budget: %s is more than a day; extensions should stay short (or say none)", path, formatDuration(d))
			} else {
				r.ExtensionBudget, p.explicitBudget[r] = d, true
			}
		}
	}
	p.justification(f.get("justification"), path+".justification", r)
	p.ticket(f.get("ticket"), path+".ticket", r)
	p.approval(f.get("approval"), path+".approval", r, c, f.keyLine("approval"))
}

func reservedList() string {
	words := make([]string, 0, len(reservedWords))
	for w := range reservedWords {
		words = append(words, w)
	}
	sort.Strings(words)
	return strings.Join(words, ", ")
}

// justification accepts `justification: false` as a shorthand for `required: false`.
func (p *parser) justification(n *yaml.Node, path string, r *Role) {
	if n = resolve(n); n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if b, ok := p.boolean(n, path); ok {
			r.JustificationRequired = b
		}
		return
	}
	f := p.mapping(n, path, []string{"required", "pattern", "hint"})
	if v := f.get("required"); v != nil {
		if b, ok := p.boolean(v, path+".required"); ok {
			r.JustificationRequired = b
		}
	}
	if v := f.get("pattern"); v != nil {
		if re, ok := p.regex(v, path+".pattern"); ok {
			r.JustificationPattern = re
		}
	}
	if v := f.get("hint"); v != nil {
		if s, ok := p.str(v, path+".hint"); ok {
			r.JustificationHint = s
		}
	}
	if r.JustificationPattern != nil && !r.JustificationRequired {
		p.errorf(f.keyLine("pattern"), "%s.pattern: a pattern needs required: true (an optional justification can't be checked)", path)
	}
}

// ticket accepts `ticket: true` as a shorthand for `required: true`.
func (p *parser) ticket(n *yaml.Node, path string, r *Role) {
	if n = resolve(n); n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if b, ok := p.boolean(n, path); ok {
			r.TicketRequired = b
		}
		return
	}
	f := p.mapping(n, path, []string{"required", "pattern", "system", "hint"})
	if v := f.get("required"); v != nil {
		if b, ok := p.boolean(v, path+".required"); ok {
			r.TicketRequired = b
		}
	}
	if v := f.get("pattern"); v != nil {
		if re, ok := p.ticketPattern(v, path+".pattern"); ok {
			r.TicketPattern = re
		}
	}
	if v := f.get("system"); v != nil {
		if s, ok := p.str(v, path+".system"); ok {
			r.TicketSystem = s
		}
	}
	if v := f.get("hint"); v != nil {
		if s, ok := p.str(v, path+".hint"); ok {
			r.TicketHint = s
			if r.TicketPattern != nil && !r.TicketPattern.MatchString(s) {
				p.errorf(v.Line, "%s.hint: the example %q doesn't match the pattern %q", path, s, r.TicketPattern.String())
			}
		}
	}
}

// approval accepts `approval: none` (or `approval: 0`) for no approval.
func (p *parser) approval(n *yaml.Node, path string, r *Role, c *Config, keyLine int) {
	if n = resolve(n); n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if v := strings.ToLower(n.Value); v == "none" || v == "0" || v == "false" {
			r.Approval = Approval{}
			return
		}
		p.errorf(n.Line, "%s: %q should be none, or settings: required, approvers, group", path, n.Value)
		return
	}
	f := p.mapping(n, path, []string{"required", "approvers", "group", "remind", "escalate", "on_call"})
	a := Approval{}
	p.reminders(f, path, &a)
	if v := f.get("on_call"); v != nil {
		a.OnCall = p.onCall(v, path+".on_call", r)
	}
	requiredSet := false
	if v := f.get("required"); v != nil {
		if k, ok := p.integer(v, path+".required"); ok {
			a.Required, requiredSet = k, true
		}
	}
	seen := map[string]int{}
	list, nodes := p.list(f.get("approvers"), path+".approvers")
	for i, s := range list {
		apath := fmt.Sprintf("%s.approvers[%d]", path, i)
		if !isGUID(s) && !isUPN(s) {
			p.errorf(nodes[i].Line, "%s: %q is neither an object id (GUID) nor a UPN (name@domain)", apath, s)
			continue
		}
		key := strings.ToLower(s)
		if line, dup := seen[key]; dup {
			p.errorf(nodes[i].Line, "%s: %s is listed twice (first on line %d)", apath, s, line)
			continue
		}
		seen[key] = nodes[i].Line
		a.Approvers = append(a.Approvers, s)
	}
	if v := f.get("group"); v != nil {
		if g, ok := p.guid(v, path+".group", "a group object id"); ok {
			a.Group = g
		}
	}
	if !requiredSet && (len(a.Approvers) > 0 || a.Group != "") {
		a.Required = 1
	}
	line := keyLine
	if v := f.get("required"); v != nil {
		line = resolve(v).Line
	}
	// Only count when every listed approver was valid and no group can supply approvers;
	// otherwise the errors above already say what to fix.
	if f.get("group") == nil && len(list) == len(a.Approvers) && a.Required > len(a.Approvers) {
		if len(a.Approvers) == 0 {
			p.errorf(line, "%s.required: %d approval%s needed but nobody can approve: list approvers or set group", path, a.Required, plural(a.Required, "", "s"))
		} else {
			p.errorf(line, "%s.required: %d approvals needed but only %d approver%s listed: add approvers, set group, or lower required", path, a.Required, len(a.Approvers), plural(len(a.Approvers), " is", "s are"))
		}
	}
	if a.Required > 0 && c.Channels.Approvals == "" && r.ApprovalChannel == "" {
		p.errorf(line, "%s: approvals need a channel for the approval cards: set channels.approvals or this role's approval_channel", path)
	}
	r.Approval = a
}

// reminders reads `remind: [30m, 10m]` (or `remind: none`) and `escalate: {before: 5m, to: [...]}`.
func (p *parser) reminders(f fields, path string, a *Approval) {
	if v := resolve(f.get("remind")); v != nil {
		if v.Kind == yaml.ScalarNode && strings.EqualFold(v.Value, "none") {
			a.Remind = []time.Duration{}
		} else {
			a.Remind = []time.Duration{}
			list, nodes := p.list(v, path+".remind")
			for i := range list {
				d, ok := p.duration(nodes[i], fmt.Sprintf("%s.remind[%d]", path, i))
				if !ok {
					continue
				}
				if d <= 0 || d >= 24*time.Hour {
					p.errorf(nodes[i].Line, "%s.remind[%d]: %s is out of range: remind between 1m and 24h before the request expires", path, i, formatDuration(d))
					continue
				}
				a.Remind = append(a.Remind, d)
			}
		}
	}
	v := f.get("escalate")
	if v == nil {
		return
	}
	if r := resolve(v); r.Kind == yaml.ScalarNode && strings.EqualFold(r.Value, "none") {
		return
	}
	epath := path + ".escalate"
	ef := p.mapping(v, epath, []string{"before", "to"})
	if b := ef.get("before"); b != nil {
		if d, ok := p.duration(b, epath+".before"); ok {
			if d <= 0 || d >= 24*time.Hour {
				p.errorf(resolve(b).Line, "%s.before: %s is out of range: escalate between 1m and 24h before the request expires", epath, formatDuration(d))
			} else {
				a.Escalate = d
			}
		}
	} else {
		a.Escalate = DefaultEscalate
	}
	list, nodes := p.list(ef.get("to"), epath+".to")
	for i, s := range list {
		if !strings.HasPrefix(s, "#") && !isGUID(s) && !isUPN(s) && !looksLikeChannelID(s) {
			p.errorf(nodes[i].Line, "%s.to[%d]: %q should be a channel (#it-leads) or a person (UPN or object id)", epath, i, s)
			continue
		}
		a.EscalateTo = append(a.EscalateTo, s)
	}
}

// onCall reads `on_call: {pagerduty: {schedule | escalation_policy, incident_service}, tier0}` or
// the same with `opsgenie: {schedule, incident_service}`.
func (p *parser) onCall(n *yaml.Node, path string, r *Role) *OnCall {
	f := p.mapping(n, path, []string{"pagerduty", "opsgenie", "tier0"})
	oc := &OnCall{}
	providers := 0
	for _, prov := range []string{"pagerduty", "opsgenie"} {
		v := f.get(prov)
		if v == nil {
			continue
		}
		providers++
		oc.Provider = prov
		keys := []string{"schedule", "incident_service"}
		if prov == "pagerduty" {
			keys = append(keys, "escalation_policy")
		}
		pf := p.mapping(v, path+"."+prov, keys)
		for _, k := range []struct {
			key string
			to  *string
		}{{"schedule", &oc.Schedule}, {"escalation_policy", &oc.EscalationPolicy}, {"incident_service", &oc.IncidentService}} {
			if x := pf.get(k.key); x != nil {
				if s, ok := p.str(x, path+"."+prov+"."+k.key); ok {
					*k.to = s
				}
			}
		}
		if oc.Schedule == "" && oc.EscalationPolicy == "" {
			what := "schedule (a PagerDuty schedule id such as P123ABC) or escalation_policy"
			if prov == "opsgenie" {
				what = "schedule (an Opsgenie schedule name or id)"
			}
			p.errorf(resolve(v).Line, "%s.%s: say whose on-call counts: %s", path, prov, what)
		}
	}
	if providers != 1 {
		p.errorf(resolve(n).Line, "%s: name exactly one of pagerduty or opsgenie", path)
		return nil
	}
	if v := f.get("tier0"); v != nil {
		if b, ok := p.boolean(v, path+".tier0"); ok {
			oc.Tier0 = b
		}
	}
	if r.Tier0 && !oc.Tier0 {
		p.errorf(resolve(n).Line, "%s: %s is a tier-0 role, and being on call never waives its approvals unless this role's on_call says `tier0: true`", path, r.Name)
		return nil
	}
	return oc
}

// looksLikeChannelID accepts a Slack channel id (C0123ABCD, G…) as an escalation target.
func looksLikeChannelID(s string) bool {
	if len(s) < 9 || (s[0] != 'C' && s[0] != 'G') {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// checkNames reports aliases that would make a word mean two enabled roles.
func (p *parser) checkNames(entries []*roleEntry) {
	owner := map[string]*roleEntry{}
	for _, e := range entries {
		if !e.enabled {
			continue
		}
		for _, k := range e.role.keys() {
			prev, taken := owner[k]
			if !taken {
				owner[k] = e
				continue
			}
			if prev == e {
				continue
			}
			line := e.aliasLine[k]
			if line == 0 {
				line = prev.aliasLine[k]
			}
			if line == 0 {
				line = max(e.line, prev.line)
			}
			p.errorf(line, "%q would mean both %s and %s; pick another alias (or disable one role with enabled: false)", k, prev.role.Name, e.role.Name)
		}
	}
}

func (p *parser) admins(n *yaml.Node, a *Admins) {
	f := p.mapping(n, "admins", []string{"users", "group"})
	a.Users, a.Group = p.people(f, "admins")
}

// failureAlert reads `failure_alert: {count: 3, within: 1h}` or `failure_alert: none`.
func (p *parser) failureAlert(n *yaml.Node, fa *FailureAlert) {
	if r := resolve(n); r.Kind == yaml.ScalarNode && strings.EqualFold(r.Value, "none") {
		*fa = FailureAlert{}
		return
	}
	f := p.mapping(n, "failure_alert", []string{"count", "within"})
	if v := f.get("count"); v != nil {
		if k, ok := p.integer(v, "failure_alert.count"); ok {
			if k < 2 {
				p.errorf(resolve(v).Line, "failure_alert.count: %d would alert on a single typo; use 2 or more (or failure_alert: none)", k)
			} else {
				fa.Count = k
			}
		}
	}
	if v := f.get("within"); v != nil {
		if d, ok := p.duration(v, "failure_alert.within"); ok {
			if d < time.Minute || d > 7*24*time.Hour {
				p.errorf(resolve(v).Line, "failure_alert.within: %s is out of range: between 1m and 7 days", formatDuration(d))
			} else {
				fa.Within = d
			}
		}
	}
}

// pilot reads `pilot: {users: [...], group: <id>, meanwhile: "..."}`.
func (p *parser) pilot(n *yaml.Node, c *Config) {
	if isNull(resolve(n)) {
		return
	}
	f := p.mapping(n, "pilot", []string{"users", "group", "meanwhile"})
	pl := &Pilot{}
	pl.Users, pl.Group = p.people(f, "pilot")
	if v := f.get("meanwhile"); v != nil {
		if s, ok := p.str(v, "pilot.meanwhile"); ok {
			pl.Meanwhile = s
		}
	}
	if len(pl.Users) == 0 && pl.Group == "" {
		p.errorf(resolve(n).Line, "pilot: name who is in the pilot (users, group); without anyone, nobody could use Elevate")
		return
	}
	c.Pilot = pl
}

// people reads a `users:` list (object ids or UPNs) and a `group:` object id under path.
func (p *parser) people(f fields, path string) (users []string, group string) {
	seen := map[string]int{}
	list, nodes := p.list(f.get("users"), path+".users")
	for i, u := range list {
		path := fmt.Sprintf("%s.users[%d]", path, i)
		if !isGUID(u) && !isUPN(u) {
			p.errorf(nodes[i].Line, "%s: %q is neither an object id (GUID) nor a UPN (name@domain)", path, u)
			continue
		}
		if line, dup := seen[strings.ToLower(u)]; dup {
			p.errorf(nodes[i].Line, "%s: %s is listed twice (first on line %d)", path, u, line)
			continue
		}
		seen[strings.ToLower(u)] = nodes[i].Line
		users = append(users, u)
	}
	if v := f.get("group"); v != nil {
		if g, ok := p.guid(v, path+".group", "a group object id"); ok {
			group = g
		}
	}
	return users, group
}

var groupKeys = []string{"name", "group_id", "access", "enabled", "aliases", "max_duration", "default_duration",
	"justification", "ticket", "approval", "tier0", "approval_channel", "extension_budget"}

// PIMGroupMaxDuration is the longest activation PIM for Groups accepts.
const PIMGroupMaxDuration = 8 * time.Hour

// groups reads the PIM for Groups catalogue (config `groups:`): each group membership is
// activated like a role, by its name or aliases, with the same rules (durations, justification,
// ticket, approval). They join Config.Roles with Group set and TemplateID the group's id.
func (p *parser) groups(n *yaml.Node, c *Config) {
	seenIDs := map[string]int{}
	for i, item := range p.sequence(n, "groups", "groups") {
		path := fmt.Sprintf("groups[%d]", i)
		item = resolve(item)
		f := p.mapping(item, path, groupKeys)
		if item == nil || item.Kind != yaml.MappingNode {
			continue
		}
		name, nameOK := "", false
		if v := f.get("name"); v == nil {
			p.errorf(item.Line, "%s: name is missing (what people see, e.g. \"Tier1 Admins\")", path)
		} else if name, nameOK = p.str(v, path+".name"); nameOK && name == "" {
			nameOK = false
		}
		gid, gidOK := "", false
		if v := f.get("group_id"); v == nil {
			p.errorf(item.Line, "%s: group_id is missing (the group's object id, a GUID)", path)
		} else {
			gid, gidOK = p.guid(v, path+".group_id", "a group object id")
		}
		if !nameOK || !gidOK {
			continue
		}
		if first := strings.Fields(normalize(name))[0]; reservedWords[first] || isDurationLike(first) {
			p.errorf(f.keyLine("name"), "%s.name: %q can't be a group name here: its first word would read as a command word or a duration", path, name)
			continue
		}
		access := "member"
		if v := f.get("access"); v != nil {
			if s, ok := p.str(v, path+".access"); ok {
				switch strings.ToLower(s) {
				case "member", "owner":
					access = strings.ToLower(s)
				default:
					p.errorf(v.Line, "%s.access: %q should be member or owner", path, s)
				}
			}
		}
		key := gid + "/" + access
		if line, dup := seenIDs[key]; dup {
			p.errorf(f.keyLine("group_id"), "%s.group_id: %s (%s) is already configured on line %d", path, gid, access, line)
			continue
		}
		seenIDs[key] = item.Line
		r := &Role{Name: strings.Join(strings.Fields(name), " "), TemplateID: gid, Group: true, Access: access,
			MaxDuration: PIMGroupMaxDuration, JustificationRequired: true, example: "what you're doing"}
		e := &roleEntry{role: r, enabled: true, line: item.Line, aliasLine: map[string]int{}}
		explicit := map[*Role]bool{}
		p.roleSettings(f, path, e, c, explicit)
		if r.MaxDuration > PIMGroupMaxDuration {
			p.errorf(f.keyLine("max_duration"), "%s.max_duration: PIM for Groups activations last at most 8h", path)
		}
		if !explicit[r] {
			r.DefaultDuration = 0 // the roles' default applies (set with them)
		}
		if e.enabled {
			p.groupEntries = append(p.groupEntries, e)
		}
	}
}
