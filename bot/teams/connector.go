package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// BotFrameworkScope is the scope of the bot's outbound tokens for the Bot Connector.
const BotFrameworkScope = "https://api.botframework.com/.default"

// TokenURL is the single-tenant token endpoint of a bot registered in tenant (Azure Bot Service
// no longer creates multi-tenant bots).
func TokenURL(authorityHost, tenant string) string {
	if authorityHost == "" {
		authorityHost = "https://login.microsoftonline.com/"
	}
	return strings.TrimRight(authorityHost, "/") + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}

// TokenSource gets the bot's app-only tokens for the Bot Connector (client credentials) and
// keeps one until five minutes before it expires. It is safe for concurrent use: callers that
// need a token while one is being fetched wait for that fetch.
type TokenSource struct {
	url, clientID, secret string
	hc                    *http.Client
	now                   func() time.Time

	mu  sync.Mutex
	tok string
	exp time.Time
}

// NewTokenSource returns a TokenSource for the app (clientID, secret) at tokenURL.
func NewTokenSource(tokenURL, clientID, secret string, hc *http.Client, now func() time.Time) *TokenSource {
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	if now == nil {
		now = time.Now
	}
	return &TokenSource{url: tokenURL, clientID: clientID, secret: secret, hc: hc, now: now}
}

// Token returns a valid access token.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	tok, _, err := s.token(ctx)
	return tok, err
}

func (s *TokenSource) token(ctx context.Context) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != "" && s.now().Before(s.exp.Add(-5*time.Minute)) {
		return s.tok, s.exp, nil
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {s.clientID},
		"client_secret": {s.secret},
		"scope":         {BotFrameworkScope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.hc.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("teams: token endpoint: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		// The error code and description name the problem (AADSTS7000215: invalid secret);
		// they carry no secret.
		return "", time.Time{}, &TokenError{Status: resp.StatusCode, Code: body.Error, Description: firstLine(body.Description)}
	}
	if err != nil || body.AccessToken == "" || body.ExpiresIn <= 0 {
		return "", time.Time{}, fmt.Errorf("teams: token endpoint answered 200 without a usable token (%v)", err)
	}
	s.tok, s.exp = body.AccessToken, s.now().Add(time.Duration(body.ExpiresIn)*time.Second)
	return s.tok, s.exp, nil
}

// TokenError is the token endpoint's refusal: Entra's error code and description (which
// carries the AADSTS code, e.g. "AADSTS7000215: Invalid client secret provided. ...").
type TokenError struct {
	Status      int
	Code        string // "invalid_client"
	Description string // first line of error_description
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("teams: token endpoint: %d %s: %s %s", e.Status, http.StatusText(e.Status), e.Code, e.Description)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	s, _, _ = strings.Cut(s, "\r")
	return s
}

// Activity is what we send to the Bot Connector: the fields we use, with msbotbuilder-go's
// schema types for the parts. (schema.Activity always serializes its struct fields, zero
// timestamps included, which some clients drop silently.)
type Activity struct {
	Type         string                      `json:"type"`
	ID           string                      `json:"id,omitempty"`
	Timestamp    time.Time                   `json:"timestamp,omitzero"`
	From         *schema.ChannelAccount      `json:"from,omitempty"`
	Conversation *schema.ConversationAccount `json:"conversation,omitempty"`
	Text         string                      `json:"text,omitempty"`
	TextFormat   string                      `json:"textFormat,omitempty"`
	Summary      string                      `json:"summary,omitempty"`
	Attachments  []schema.Attachment         `json:"attachments,omitempty"`
	ReplyToID    string                      `json:"replyToId,omitempty"`
	ChannelData  map[string]any              `json:"channelData,omitempty"`
}

// ConversationParams create a conversation: a 1:1 chat with Members[0], or a new thread in a
// channel (IsGroup, ChannelData.channel.id, Activity).
type ConversationParams struct {
	IsGroup     bool                    `json:"isGroup"`
	Bot         *schema.ChannelAccount  `json:"bot,omitempty"`
	Members     []schema.ChannelAccount `json:"members,omitempty"`
	TenantID    string                  `json:"tenantId,omitempty"`
	Activity    *Activity               `json:"activity,omitempty"`
	ChannelData map[string]any          `json:"channelData,omitempty"`
}

// Member is a Teams user as the Bot Connector describes them (TeamsChannelAccount).
type Member struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	AadObjectID       string `json:"aadObjectId"`
	Email             string `json:"email"`
	UserPrincipalName string `json:"userPrincipalName"`
	TenantID          string `json:"tenantId"`
}

// Error is a refusal by the Bot Connector.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // from Retry-After; -1 when absent
}

func (e *Error) Error() string {
	return fmt.Sprintf("teams: bot connector: %d %s: %s", e.Status, e.Code, e.Message)
}

// ErrThrottled matches an *Error with status 429 that outlasted our retries.
var ErrThrottled = errors.New("teams: bot connector throttled")

func (e *Error) Is(target error) bool {
	return target == ErrThrottled && e.Status == http.StatusTooManyRequests
}

// Connector is our own Bot Connector client: msbotbuilder-go's cannot return the id of what it
// posted, create a conversation, read a member, or wait out a 429.
type Connector struct {
	tokens interface {
		Token(context.Context) (string, error)
	}
	hc *http.Client
	// Retries is how often a 429 or 503 is retried (honouring Retry-After); MaxWait caps one wait.
	Retries int
	MaxWait time.Duration
	// ServiceURLs are where the bot's token may go (DefaultServiceURLHosts when nil): a call to
	// any other URL is refused before a token is fetched, whatever conversation reference asked.
	ServiceURLs *ServiceURLs
}

// ErrServiceURL is a call refused because its service URL is not https on an allowed host.
var ErrServiceURL = errors.New("teams: service URL not allowed")

// NewConnector returns a Connector that authenticates with tokens.
func NewConnector(tokens interface {
	Token(context.Context) (string, error)
}, hc *http.Client) *Connector {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Connector{tokens: tokens, hc: hc, Retries: 3, MaxWait: 30 * time.Second}
}

func conversationURL(serviceURL, convID string, rest ...string) string {
	u := strings.TrimRight(serviceURL, "/") + "/v3/conversations"
	if convID != "" {
		u += "/" + url.PathEscape(convID)
	}
	for _, r := range rest {
		u += "/" + url.PathEscape(r)
	}
	return u
}

// Send posts a into conversation convID and returns the new activity's id.
func (c *Connector) Send(ctx context.Context, serviceURL, convID string, a Activity) (string, error) {
	var out schema.ResourceResponse
	if err := c.do(ctx, http.MethodPost, conversationURL(serviceURL, convID, "activities"), a, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// Update replaces activity activityID in conversation convID with a.
func (c *Connector) Update(ctx context.Context, serviceURL, convID, activityID string, a Activity) error {
	a.ID = activityID
	return c.do(ctx, http.MethodPut, conversationURL(serviceURL, convID, "activities", activityID), a, nil)
}

// Delete removes activity activityID from conversation convID.
func (c *Connector) Delete(ctx context.Context, serviceURL, convID, activityID string) error {
	return c.do(ctx, http.MethodDelete, conversationURL(serviceURL, convID, "activities", activityID), nil, nil)
}

// CreateConversation opens a conversation (a 1:1 chat for a proactive DM, or a channel thread).
func (c *Connector) CreateConversation(ctx context.Context, serviceURL string, p ConversationParams) (schema.ConversationResourceResponse, error) {
	var out schema.ConversationResourceResponse
	err := c.do(ctx, http.MethodPost, conversationURL(serviceURL, ""), p, &out)
	return out, err
}

// GetMember reads one member of a conversation: email and UPN are not in activities.
func (c *Connector) GetMember(ctx context.Context, serviceURL, convID, userID string) (Member, error) {
	var out Member
	err := c.do(ctx, http.MethodGet, conversationURL(serviceURL, convID, "members", userID), nil, &out)
	return out, err
}

func (c *Connector) do(ctx context.Context, method, u string, in, out any) error {
	allow := c.ServiceURLs
	if allow == nil {
		allow = defaultServiceURLs
	}
	if err := allow.Check(u); err != nil {
		return fmt.Errorf("%w: %w", ErrServiceURL, err)
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, method, u, body, out)
		var ce *Error
		if !errors.As(err, &ce) || (ce.Status != http.StatusTooManyRequests && ce.Status != http.StatusServiceUnavailable) || attempt >= c.Retries {
			return err
		}
		wait := ce.RetryAfter
		if wait < 0 { // no Retry-After: back off
			wait = time.Duration(500<<attempt) * time.Millisecond
		}
		if c.MaxWait > 0 && wait > c.MaxWait {
			return err // not worth holding a request for; the caller logs it
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (c *Connector) once(ctx context.Context, method, u string, body []byte, out any) error {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("teams: bot connector: %s: %w", method, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
		var er struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &er) == nil {
			e.Code, e.Message = er.Error.Code, er.Error.Message
		}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		return e
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("teams: bot connector: decoding %s answer: %w", method, err)
		}
	}
	return nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; -1 when there is none.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return -1
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

// libClient is msbotbuilder-go's client.Client over our Connector, so the library's adapter
// shell (UpdateActivity, DeleteActivity, ProactiveMessage) shares our token source and 429
// handling instead of its own racy, unchecked one.
type libClient struct{ c *Connector }

func (l libClient) Post(u url.URL, a schema.Activity) error {
	return l.c.do(context.Background(), http.MethodPost, u.String(), a, nil)
}

func (l libClient) Put(u url.URL, a schema.Activity) error {
	return l.c.do(context.Background(), http.MethodPut, u.String(), a, nil)
}

func (l libClient) Delete(u url.URL, _ schema.Activity) error {
	return l.c.do(context.Background(), http.MethodDelete, u.String(), nil, nil)
}
