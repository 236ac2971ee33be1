package teams

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// DefaultServiceURLHosts are the hosts of the Bot Connector service URLs Teams sends in
// activities: the public cloud (smba.trafficmanager.net, its global /teams/ and regional
// /amer/, /emea/, /apac/, … paths) and the US government clouds (GCC, GCC High, DoD).
var DefaultServiceURLHosts = []string{
	"smba.trafficmanager.net",
	"smba.infra.gcc.teams.microsoft.com",
	"smba.infra.gov.teams.microsoft.us",
	"smba.infra.dod.teams.microsoft.us",
}

var defaultServiceURLs, _ = NewServiceURLs(nil)

// ServiceURLs is the allowlist of Bot Connector service URLs: https on one of its hosts. The bot's
// Bot Framework token goes only there, and only such a URL is kept as a conversation reference.
type ServiceURLs struct {
	hosts map[string]bool // "host" (port 443) or "host:port", lower case
}

// NewServiceURLs returns the allowlist of hosts: names such as smba.trafficmanager.net, with a
// port when it is not 443 (tests, a private cloud). None gives DefaultServiceURLHosts.
func NewServiceURLs(hosts []string) (*ServiceURLs, error) {
	if len(hosts) == 0 {
		hosts = DefaultServiceURLHosts
	}
	s := &ServiceURLs{hosts: map[string]bool{}}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/@?#*") {
			return nil, fmt.Errorf("teams: service URL host %q: want a host name, with :port if not 443 (no scheme, path or wildcard)", h)
		}
		if host, port, err := net.SplitHostPort(h); err == nil {
			if host == "" || port == "" {
				return nil, fmt.Errorf("teams: service URL host %q: empty host or port", h)
			}
			if port == "443" {
				h = host
			}
		}
		s.hosts[h] = true
	}
	if len(s.hosts) == 0 {
		return nil, errors.New("teams: the service URL allowlist is empty")
	}
	return s, nil
}

// Check returns nil when raw is an https URL on an allowed host, else why not (for the log).
func (s *ServiceURLs) Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("serviceUrl %q does not parse", raw)
	}
	switch {
	case u.Scheme != "https":
		return fmt.Errorf("serviceUrl %q is not https", raw)
	case u.User != nil || u.Opaque != "" || u.Host == "":
		return fmt.Errorf("serviceUrl %q is not a plain https URL", raw)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (port == "" || port == "443") && s.hosts[host] {
		return nil
	}
	if port != "" && s.hosts[net.JoinHostPort(host, port)] {
		return nil
	}
	return fmt.Errorf("serviceUrl host %q is not on the allowlist (TEAMS_SERVICE_URL_HOSTS)", u.Host)
}
