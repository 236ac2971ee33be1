// Package oncall answers one question for Elevate's approval waiver: is this person on call right
// now in a named PagerDuty schedule or escalation policy, or Opsgenie schedule, optionally while
// an incident is open on a named service? PagerDuty is read through github.com/PagerDuty/go-pagerduty,
// Opsgenie through its REST API; both take a base URL and an *http.Client, so tests run the real
// clients against oncalltest's fakes.
package oncall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"
)

// Default API base URLs. Opsgenie's EU instance is https://api.eu.opsgenie.com.
const (
	DefaultPagerDutyURL = "https://api.pagerduty.com"
	DefaultOpsgenieURL  = "https://api.opsgenie.com"
)

// Rule is what to check, from a role's `approval.on_call` config.
type Rule struct {
	Provider         string // "pagerduty" or "opsgenie"
	Schedule         string // PagerDuty schedule id (P123ABC) or Opsgenie schedule name or id
	EscalationPolicy string // PagerDuty only: an escalation policy id, instead of or with Schedule
	IncidentService  string // optional: only while an incident is open on this service (PagerDuty service id, Opsgenie service id)
}

// Answer is whether the person is on call, and the words that say why, for the card and the
// audit record: "PagerDuty schedule P123ABC with incident #4521 open".
type Answer struct {
	OnCall bool
	Source string // "PagerDuty schedule P123ABC"
	// Incident is the open incident that made the waiver apply ("#4521"); empty when the rule
	// names no service or none is open.
	Incident string
	// Reason says why not, when OnCall is false: "not on call", "no incident open on PSVC123".
	Reason string
}

// Words is the answer as the card and the audit record say it, after "alice is on call for …".
func (a Answer) Words() string {
	if a.Incident != "" {
		return fmt.Sprintf("%s with incident %s open", a.Source, a.Incident)
	}
	return a.Source
}

// Config configures a Client. A provider without a token is not configured: a rule naming it is
// answered with ErrNotConfigured.
type Config struct {
	PagerDutyToken string
	PagerDutyURL   string // DefaultPagerDutyURL when empty
	OpsgenieKey    string
	OpsgenieURL    string // DefaultOpsgenieURL when empty
	HTTPClient     *http.Client
	// Timeout bounds one check (every call it makes); 10s when zero.
	Timeout time.Duration
}

// ErrNotConfigured is returned for a rule whose provider has no credentials.
var ErrNotConfigured = errors.New("oncall: provider not configured")

// Error is a failed call to an on-call service, with the words for the card.
type Error struct {
	Provider string
	Status   int // HTTP status; 0 when the service could not be reached
	Err      error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s answered %d: %v", e.Provider, e.Status, e.Err)
	}
	return fmt.Sprintf("%s could not be reached: %v", e.Provider, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Client checks rules against PagerDuty and Opsgenie.
type Client struct {
	pd      *pagerduty.Client
	ogKey   string
	ogURL   string
	hc      *http.Client
	timeout time.Duration
	now     func() time.Time
}

// New returns a client for the providers that have credentials in c.
func New(c Config) *Client {
	cl := &Client{hc: c.HTTPClient, ogKey: c.OpsgenieKey, ogURL: strings.TrimSuffix(c.OpsgenieURL, "/"), timeout: c.Timeout, now: time.Now}
	if cl.hc == nil {
		cl.hc = &http.Client{}
	}
	if cl.ogURL == "" {
		cl.ogURL = DefaultOpsgenieURL
	}
	if cl.timeout == 0 {
		cl.timeout = 10 * time.Second
	}
	if c.PagerDutyToken != "" {
		u := strings.TrimSuffix(c.PagerDutyURL, "/")
		if u == "" {
			u = DefaultPagerDutyURL
		}
		cl.pd = pagerduty.NewClient(c.PagerDutyToken, pagerduty.WithAPIEndpoint(u))
		cl.pd.HTTPClient = cl.hc
	}
	return cl
}

// Configured reports whether provider has credentials.
func (c *Client) Configured(provider string) bool {
	switch provider {
	case "pagerduty":
		return c.pd != nil
	case "opsgenie":
		return c.ogKey != ""
	}
	return false
}

// OnCall reports whether the person known by any of emails is on call under r now.
func (c *Client) OnCall(ctx context.Context, emails []string, r Rule) (Answer, error) {
	if !c.Configured(r.Provider) {
		return Answer{}, fmt.Errorf("%w: %s", ErrNotConfigured, r.Provider)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if r.Provider == "pagerduty" {
		return c.pagerDuty(ctx, emails, r)
	}
	return c.opsgenie(ctx, emails, r)
}

func matches(emails []string, email string) bool {
	return email != "" && slices.ContainsFunc(emails, func(e string) bool { return strings.EqualFold(e, email) })
}

func (c *Client) pagerDuty(ctx context.Context, emails []string, r Rule) (Answer, error) {
	var ans Answer
	o := pagerduty.ListOnCallOptions{Includes: []string{"users"}, Limit: 100}
	switch {
	case r.Schedule != "":
		o.ScheduleIDs = []string{r.Schedule}
		ans.Source = "PagerDuty schedule " + r.Schedule
	default:
		o.EscalationPolicyIDs = []string{r.EscalationPolicy}
		ans.Source = "PagerDuty escalation policy " + r.EscalationPolicy
	}
	if r.Schedule != "" && r.EscalationPolicy != "" {
		o.EscalationPolicyIDs = []string{r.EscalationPolicy}
		ans.Source += " / escalation policy " + r.EscalationPolicy
	}
	for {
		resp, err := c.pd.ListOnCallsWithContext(ctx, o)
		if err != nil {
			return Answer{}, pdError(err)
		}
		for _, oc := range resp.OnCalls {
			if matches(emails, oc.User.Email) {
				ans.OnCall = true
			}
		}
		if ans.OnCall || !resp.More {
			break
		}
		o.Offset += uint(len(resp.OnCalls))
		if len(resp.OnCalls) == 0 {
			break
		}
	}
	if !ans.OnCall {
		ans.Reason = "not on call in " + ans.Source
		return ans, nil
	}
	if r.IncidentService == "" {
		return ans, nil
	}
	inc, err := c.pd.ListIncidentsWithContext(ctx, pagerduty.ListIncidentsOptions{ServiceIDs: []string{r.IncidentService},
		Statuses: []string{"triggered", "acknowledged"}, Limit: 1, SortBy: "created_at:desc"})
	if err != nil {
		return Answer{}, pdError(err)
	}
	if len(inc.Incidents) == 0 {
		ans.OnCall, ans.Reason = false, "on call, but no incident is open on PagerDuty service "+r.IncidentService
		return ans, nil
	}
	ans.Incident = "#" + strconv.FormatUint(uint64(inc.Incidents[0].IncidentNumber), 10)
	return ans, nil
}

func pdError(err error) error {
	var ae pagerduty.APIError
	if errors.As(err, &ae) {
		return &Error{Provider: "PagerDuty", Status: ae.StatusCode, Err: err}
	}
	return &Error{Provider: "PagerDuty", Err: err}
}

// Opsgenie: GET /v2/schedules/{id}/on-calls?scheduleIdentifierType=name&flat=true answers
// {"data":{"onCallRecipients":["user@example.com"]}}; open incidents come from GET
// /v1/incidents?query=status:open, filtered on impactedServices.
func (c *Client) opsgenie(ctx context.Context, emails []string, r Rule) (Answer, error) {
	ans := Answer{Source: "Opsgenie schedule " + r.Schedule}
	idType := "name"
	if looksLikeUUID(r.Schedule) {
		idType = "id"
	}
	var oc struct {
		Data struct {
			OnCallRecipients []string `json:"onCallRecipients"`
		} `json:"data"`
	}
	q := url.Values{"scheduleIdentifierType": {idType}, "flat": {"true"}}
	if err := c.ogGet(ctx, "/v2/schedules/"+url.PathEscape(r.Schedule)+"/on-calls?"+q.Encode(), &oc); err != nil {
		return Answer{}, err
	}
	for _, e := range oc.Data.OnCallRecipients {
		if matches(emails, e) {
			ans.OnCall = true
		}
	}
	if !ans.OnCall {
		ans.Reason = "not on call in " + ans.Source
		return ans, nil
	}
	if r.IncidentService == "" {
		return ans, nil
	}
	var inc struct {
		Data []struct {
			TinyID           string   `json:"tinyId"`
			Status           string   `json:"status"`
			ImpactedServices []string `json:"impactedServices"`
		} `json:"data"`
	}
	if err := c.ogGet(ctx, "/v1/incidents?"+url.Values{"query": {"status:open"}, "limit": {"100"}}.Encode(), &inc); err != nil {
		return Answer{}, err
	}
	for _, i := range inc.Data {
		if i.Status == "open" && slices.Contains(i.ImpactedServices, r.IncidentService) {
			ans.Incident = "#" + i.TinyID
			return ans, nil
		}
	}
	ans.OnCall, ans.Reason = false, "on call, but no incident is open on Opsgenie service "+r.IncidentService
	return ans, nil
}

func (c *Client) ogGet(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.ogURL+path, nil)
	if err != nil {
		return &Error{Provider: "Opsgenie", Err: err}
	}
	req.Header.Set("Authorization", "GenieKey "+c.ogKey)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return &Error{Provider: "Opsgenie", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body struct {
			Message string `json:"message"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return &Error{Provider: "Opsgenie", Status: resp.StatusCode, Err: errors.New(strings.TrimSpace(cmpOr(body.Message, http.StatusText(resp.StatusCode))))}
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return &Error{Provider: "Opsgenie", Status: resp.StatusCode, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func looksLikeUUID(s string) bool { return len(s) == 36 && strings.Count(s, "-") == 4 }

// Check proves that the client's key works and that what r names exists: the schedule or
// escalation policy, and the incident service. It returns what it found, for `elevate check`.
func (c *Client) Check(ctx context.Context, r Rule) (string, error) {
	if !c.Configured(r.Provider) {
		return "", fmt.Errorf("%w: %s", ErrNotConfigured, r.Provider)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var found []string
	if r.Provider == "pagerduty" {
		if r.Schedule != "" {
			s, err := c.pd.GetScheduleWithContext(ctx, r.Schedule, pagerduty.GetScheduleOptions{})
			if err != nil {
				return "", pdError(err)
			}
			found = append(found, fmt.Sprintf("schedule %s (%s)", r.Schedule, s.Name))
		}
		if r.EscalationPolicy != "" {
			ep, err := c.pd.GetEscalationPolicyWithContext(ctx, r.EscalationPolicy, &pagerduty.GetEscalationPolicyOptions{})
			if err != nil {
				return "", pdError(err)
			}
			found = append(found, fmt.Sprintf("escalation policy %s (%s)", r.EscalationPolicy, ep.Name))
		}
		if r.IncidentService != "" {
			sv, err := c.pd.GetServiceWithContext(ctx, r.IncidentService, &pagerduty.GetServiceOptions{})
			if err != nil {
				return "", pdError(err)
			}
			found = append(found, fmt.Sprintf("service %s (%s)", r.IncidentService, sv.Name))
		}
		return "PagerDuty " + strings.Join(found, ", "), nil
	}
	idType := "name"
	if looksLikeUUID(r.Schedule) {
		idType = "id"
	}
	var sc struct {
		Data struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
		} `json:"data"`
	}
	if err := c.ogGet(ctx, "/v2/schedules/"+url.PathEscape(r.Schedule)+"?"+url.Values{"identifierType": {idType}}.Encode(), &sc); err != nil {
		return "", err
	}
	found = append(found, fmt.Sprintf("schedule %s", sc.Data.Name))
	if !sc.Data.Enabled {
		return "", &Error{Provider: "Opsgenie", Status: http.StatusOK, Err: fmt.Errorf("the schedule %s is disabled", sc.Data.Name)}
	}
	if r.IncidentService != "" {
		var sv struct {
			Data struct {
				Name string `json:"name"`
			} `json:"data"`
		}
		if err := c.ogGet(ctx, "/v1/services/"+url.PathEscape(r.IncidentService), &sv); err != nil {
			return "", err
		}
		found = append(found, fmt.Sprintf("service %s (%s)", r.IncidentService, sv.Data.Name))
	}
	return "Opsgenie " + strings.Join(found, ", "), nil
}
