package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/core"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

// Platform is the adapter's name: it keys bindings, requests and message references.
const Platform = "teams"

// Core is what the adapter needs from the conversation core; *bot.Core implements it.
type Core interface {
	Accept(a bot.Actor, text string) (bot.Job, error)
	Click(ctx context.Context, a bot.Actor, action bot.Action, value, reason string) error
	Choices(ctx context.Context, a bot.Actor) ([]bot.RoleChoice, bool, error)
	CheckForm(a bot.Actor, f bot.Form) map[string]string
	SubmitForm(a bot.Actor, f bot.Form) (bot.Job, error)
	Card(id uint64) (bot.Message, error)
	Approvers(ctx context.Context, id uint64) ([]string, error)
	Home(ctx context.Context, a bot.Actor) (bot.Home, error)
	Clock(t time.Time) string
}

// Conversations keeps conversation references; *store.Store implements it.
type Conversations interface {
	PutConversation(store.Conversation) error
	Conversation(platform, key string) (store.Conversation, error)
	Conversations(platform string) ([]store.Conversation, error)
}

// Replays remembers the activities already handled: FirstSeen records key at `at`, for window,
// and reports whether it is new. *store.Store (through the core) implements it, so a restart
// does not forget; without one the adapter remembers in memory only.
type Replays interface {
	FirstSeen(key string, at time.Time, window time.Duration) (bool, error)
}

// activityWindow is how long a handled activity id is remembered: the Bot Connector's tokens
// live an hour (plus our 5 minutes' leeway), so a delivery repeated later is refused anyway.
const activityWindow = 70 * time.Minute

// Options configure an Adapter.
type Options struct {
	AppID       string // MICROSOFT_APP_ID: required
	AppPassword string // MICROSOFT_APP_PASSWORD, when Credential is nil
	TenantID    string // MICROSOFT_APP_TENANT_ID: the only tenant whose activities are accepted
	// Credential gets the bot's Bot Connector tokens (NewCredential: secret, certificate,
	// workload or managed identity). nil: the client secret AppPassword at TokenURL.
	Credential *Credential
	// OpenIDMetadataURL is the Bot Framework's OpenID metadata (DefaultOpenIDMetadataURL).
	OpenIDMetadataURL string
	// AuthorityHost is the Entra login host for the bot's token (https://login.microsoftonline.com/);
	// TokenURL, when set, is used as is.
	AuthorityHost, TokenURL string
	// Channels maps the config's channel names ("#pim-approvals") to Teams channel conversation
	// ids (19:…@thread.tacv2). Names not listed are matched against the channel names Teams
	// reported when the app was installed or the channel was created or renamed.
	Channels      map[string]string
	Conversations Conversations
	Core          Core // may be set later with Use
	HTTPClient    *http.Client
	Logger        *slog.Logger
	Now           func() time.Time
	// InvokeWait is how long a card click waits for the core before answering Teams with the
	// card as it stands (default 3s; Teams gives up after about 5s).
	InvokeWait time.Duration
	// MinKeyRefresh limits key fetches caused by unknown key ids (default one minute).
	MinKeyRefresh time.Duration
	// HintWait bounds how long a user's first activity waits for the member lookup that tells
	// their UPN, a login hint only (default 300ms; the answer is cached).
	HintWait time.Duration
	// ServiceURLHosts are the Bot Connector hosts an activity's serviceUrl may name, with :port
	// when not 443 (DefaultServiceURLHosts when empty; sovereign clouds and tests set their
	// own). An activity from any other, or not over https, is refused and nothing of it kept,
	// and the bot's token is never sent anywhere else.
	ServiceURLHosts []string
	// Replays remembers the activity ids already handled (the core, its store, in production).
	// Memory only when nil.
	Replays Replays
}

// Adapter is the Teams chat adapter: the /api/messages endpoint and the bot.Messenger.
type Adapter struct {
	o         Options
	log       *slog.Logger
	validator *Validator
	conn      *Connector
	allow     *ServiceURLs
	replays   Replays
	shell     *core.BotFrameworkAdapter
	botID     string

	mu      sync.RWMutex
	core    Core
	seen    map[string]store.Conversation // what was last written, to skip redundant writes
	watches map[*clickWatch]struct{}      // card clicks waiting for the core's answer
	members *memberCache
	listing channelListing // on-demand channel listings (channels.go)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns an Adapter. It refuses to start without an app id (with which msbotbuilder-go
// would accept unauthenticated requests), a tenant id, a credential or a conversation store.
func New(o Options) (*Adapter, error) {
	switch {
	case strings.TrimSpace(o.AppID) == "":
		return nil, errors.New("teams: MICROSOFT_APP_ID is required")
	case strings.TrimSpace(o.TenantID) == "":
		return nil, errors.New("teams: MICROSOFT_APP_TENANT_ID is required (the only tenant whose activities are accepted)")
	case o.AppPassword == "" && o.Credential == nil:
		return nil, errors.New("teams: the bot needs a credential: MICROSOFT_APP_PASSWORD, a certificate, or a managed or workload identity")
	case o.Conversations == nil:
		return nil, errors.New("teams: a conversation store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.InvokeWait == 0 {
		o.InvokeWait = 3 * time.Second
	}
	if o.HintWait == 0 {
		o.HintWait = 300 * time.Millisecond
	}
	if o.TokenURL == "" {
		o.TokenURL = TokenURL(o.AuthorityHost, o.TenantID)
	}
	v, err := NewValidator(ValidatorOptions{AppID: o.AppID, MetadataURL: o.OpenIDMetadataURL, HTTPClient: o.HTTPClient, Now: o.Now, MinRefresh: o.MinKeyRefresh})
	if err != nil {
		return nil, err
	}
	allow, err := NewServiceURLs(o.ServiceURLHosts)
	if err != nil {
		return nil, err
	}
	cred := o.Credential
	if cred == nil {
		cred = &Credential{TokenCredential: NewTokenSource(o.TokenURL, o.AppID, o.AppPassword, o.HTTPClient, o.Now),
			Kind: KindSecret, AppType: AppTypeSingleTenant, Authority: o.TokenURL}
	}
	conn := NewConnector(cred.Tokens(o.Logger, o.Now), o.HTTPClient)
	conn.ServiceURLs = allow
	replays := o.Replays
	if replays == nil {
		replays = bot.NewMemoryReplays(50_000)
	}
	creds := auth.SimpleCredentialProvider{AppID: o.AppID, Password: o.AppPassword}
	a := &Adapter{
		o: o, log: o.Logger, validator: v, conn: conn, allow: allow, replays: replays, core: o.Core, botID: "28:" + o.AppID,
		// The library's adapter shell with our validator and our client: its own validator
		// accepts anything for an empty app id and panics on a missing claim.
		shell: &core.BotFrameworkAdapter{
			AdapterSetting: core.AdapterSetting{AppID: o.AppID, AppPassword: o.AppPassword, ChannelAuthTenant: o.TenantID,
				OpenIDMetadata: o.OpenIDMetadataURL, CredentialProvider: creds},
			TokenValidator: v,
			Client:         libClient{conn},
		},
		seen: map[string]store.Conversation{}, watches: map[*clickWatch]struct{}{}, members: newMemberCache(10_000),
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// Use sets the core the adapter hands input to (when it was built before the core).
func (a *Adapter) Use(c Core) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.core = c
}

func (a *Adapter) theCore() Core {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.core
}

// Platform is bot.Messenger's name for Teams.
func (a *Adapter) Platform() string { return Platform }

// Wait blocks until the work started after acknowledging activities has finished.
func (a *Adapter) Wait() { a.wg.Wait() }

// Close cancels background work and waits for it.
func (a *Adapter) Close() {
	a.cancel()
	a.wg.Wait()
}

func (a *Adapter) background(name string, fn func(ctx context.Context) error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				a.log.Error("teams: background work panicked", "work", name, "panic", fmt.Sprint(v))
			}
		}()
		if err := fn(a.ctx); err != nil {
			a.log.Error("teams: background work failed", "work", name, "err", err)
		}
	}()
}

// inbound is what we read from an activity besides msbotbuilder-go's schema.Activity, whose
// Entity type drops the mention fields.
type inbound struct {
	Entities []struct {
		Type      string `json:"type"`
		Text      string `json:"text"`
		Mentioned struct {
			ID string `json:"id"`
		} `json:"mentioned"`
	} `json:"entities"`
	ChannelData struct {
		Tenant  struct{ ID string }       `json:"tenant"`
		Team    struct{ ID, Name string } `json:"team"`
		Channel struct{ ID, Name string } `json:"channel"`
		Event   string                    `json:"eventType"`
	} `json:"channelData"`
}

// MaxBody bounds an activity's body; a standby forwards no more to the leader.
const MaxBody = 256 << 10

// ServeHTTP is /api/messages.
func (a *Adapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("Authorization") == "" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	act, err := a.shell.ParseRequest(r.Context(), r)
	if errors.Is(err, ErrUnauthorized) {
		a.log.Warn("teams: activity refused", "reason", err.Error(), "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if err != nil {
		http.Error(w, "bad activity", http.StatusBadRequest)
		return
	}
	var in inbound
	_ = json.Unmarshal(body, &in)
	// Only our tenant: the token says the Bot Connector sent it, not for whom.
	if !a.ourTenant(act, in) {
		a.log.Warn("teams: activity from another tenant refused", "tenant", firstNonEmpty(in.ChannelData.Tenant.ID, act.Conversation.TenantID), "type", string(act.Type))
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if act.ChannelID != "msteams" {
		http.Error(w, "only Microsoft Teams is supported", http.StatusBadRequest)
		return
	}
	// The token's serviceurl claim matched the activity's (Validate); the URL must also be one
	// of the Bot Connector's: it is where replies, and the bot's token with them, would go.
	if err := a.allow.Check(act.ServiceURL); err != nil {
		a.log.Warn("teams: activity with a service URL off the allowlist refused; nothing kept", "reason", err.Error(), "type", string(act.Type), "remote", r.RemoteAddr)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	c := a.theCore()
	// An activity id already handled is acknowledged and dropped (the Bot Connector retries
	// what it thinks was lost). Not while starting: that answer asks for a retry.
	if c != nil && act.ID != "" {
		first, err := a.replays.FirstSeen("teams:activity:"+digest(act.Conversation.ID, act.ID), a.o.Now(), activityWindow)
		if err != nil {
			a.log.Error("teams: recording a handled activity", "err", err)
			http.Error(w, "could not record the activity", http.StatusInternalServerError)
			return
		}
		if !first {
			a.log.Warn("teams: activity already handled; ignored", "activity_id", act.ID, "type", string(act.Type))
			if act.Type == schema.Invoke {
				writeInvoke(w, messageResponse("Already received."))
				return
			}
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	a.capture(act, in)
	if c == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	switch act.Type {
	case schema.Message:
		a.message(w, c, act, in)
	case schema.Invoke:
		a.invoke(r.Context(), w, c, act, in)
	default:
		// conversationUpdate, installationUpdate (captured above), typing, reactions, …
		w.WriteHeader(http.StatusOK)
		if a.added(act, in) {
			team, teamName, su := in.ChannelData.Team.ID, in.ChannelData.Team.Name, act.ServiceURL
			a.background("teams channels", func(ctx context.Context) error { return a.learnChannels(ctx, su, team, teamName) })
		}
		if act.Type == "installationUpdate" && (act.Action == "add" || act.Action == "") && act.Conversation.ConversationType == "personal" {
			// Installed for this user: a welcome and their home.
			who := a.actor(act, in)
			a.background("teams welcome", func(ctx context.Context) error {
				return a.sendHome(ctx, who, "Hi! I activate your eligible admin roles through PIM, with your own sign-in. Say `elevate exchange 4h fixing mail flow`, or pick a role below; `home` shows this card again, `help` everything else.")
			})
		}
	}
}

func (a *Adapter) ourTenant(act schema.Activity, in inbound) bool {
	ids := []string{in.ChannelData.Tenant.ID, act.Conversation.TenantID}
	seen := false
	for _, id := range ids {
		if id == "" {
			continue
		}
		if !strings.EqualFold(id, a.o.TenantID) {
			return false
		}
		seen = true
	}
	return seen
}

// actor is who sent act. UserID (the Entra object id) is trusted because the JWT and the
// tenant were checked; EmailHint (the member's UPN, when the connector told us) is a hint only.
func (a *Adapter) actor(act schema.Activity, in inbound) bot.Actor {
	ch := ""
	if act.Conversation.ConversationType != "personal" {
		ch = baseConversation(act.Conversation.ID)
	}
	return bot.Actor{Platform: Platform, ChatUser: act.From.ID, Name: act.From.Name, Channel: ch, UserID: act.From.AadObjectID,
		EmailHint: a.hint(act, in)}
}

// baseConversation is a channel conversation id without the thread (";messageid=…").
func baseConversation(id string) string {
	base, _, _ := strings.Cut(id, ";messageid=")
	return base
}

var atRe = regexp.MustCompile(`(?is)<at[^>]*>.*?</at>`)

// commandText is what the user typed to Elevate: the bot's @mention removed, and an optional
// leading "elevate" (the command list's title, or the Slack habit "/elevate").
func (a *Adapter) commandText(act schema.Activity, in inbound) string {
	text := act.Text
	for _, e := range in.Entities {
		if e.Type == "mention" && e.Text != "" && (e.Mentioned.ID == act.Recipient.ID || e.Mentioned.ID == a.botID) {
			text = strings.ReplaceAll(text, e.Text, " ")
		}
	}
	if act.Conversation.ConversationType != "personal" {
		text = atRe.ReplaceAllString(text, " ") // a mention Teams sent without its entity
	}
	text = strings.NewReplacer("&nbsp;", " ", "\u00a0", " ").Replace(text)
	text = strings.TrimSpace(text)
	for _, p := range []string{"/elevate", "elevate"} {
		if rest, ok := cutWord(text, p); ok {
			text = rest
			break
		}
	}
	return strings.TrimSpace(text)
}

func cutWord(s, word string) (string, bool) {
	if len(s) < len(word) || !strings.EqualFold(s[:len(word)], word) {
		return s, false
	}
	rest := s[len(word):]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' && rest[0] != '\n' {
		return s, false
	}
	return rest, true
}

func (a *Adapter) message(w http.ResponseWriter, c Core, act schema.Activity, in inbound) {
	who := a.actor(act, in)
	if act.Value != nil {
		// Action.Submit (clients without Universal Actions): data and inputs in Value, the
		// card's activity id in ReplyToID. As on the invoke path, a form is stored before the
		// 200, so an acknowledged request is never lost; a click gets the same wait.
		verb, _ := act.Value["elevate"].(string)
		if verb == verbRequest {
			f := formOf(act.Value)
			if errs := c.CheckForm(who, f); len(errs) > 0 {
				w.WriteHeader(http.StatusOK)
				a.background("teams form", func(ctx context.Context) error { return a.sendForm(ctx, who, f, errs) })
				return
			}
			job, err := c.SubmitForm(who, f)
			if err != nil {
				a.log.Error("teams: submitting form", "chat_user", who.ChatUser, "err", err)
				http.Error(w, "could not accept the form", http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
			a.background("teams form submit", job)
			return
		}
		value, _ := act.Value["value"].(string)
		reason := denyReason(act.Value, value)
		done := make(chan struct{})
		a.background("teams submit", func(ctx context.Context) error {
			defer close(done)
			return c.Click(ctx, who, bot.Action(verb), value, reason)
		})
		t := time.NewTimer(a.o.InvokeWait)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C: // the decision is stored when the core gets there; Teams must have its answer
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	text := a.commandText(act, in)
	if isHome(text) {
		w.WriteHeader(http.StatusOK)
		a.background("teams home", func(ctx context.Context) error { return a.sendHome(ctx, who, "") })
		return
	}
	if text == "" {
		w.WriteHeader(http.StatusOK)
		a.background("teams form", func(ctx context.Context) error { return a.sendForm(ctx, who, bot.Form{}, nil) })
		return
	}
	// Persist before acknowledging; the slow part runs after.
	job, err := c.Accept(who, text)
	if err != nil {
		a.log.Error("teams: accepting command", "chat_user", who.ChatUser, "err", err)
		http.Error(w, "could not accept the command", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	a.background("teams command", job)
}

func (a *Adapter) sendForm(ctx context.Context, who bot.Actor, f bot.Form, errs map[string]string) error {
	c := a.theCore()
	choices, known, err := c.Choices(ctx, who)
	card := formCard(choices, known, f, errs)
	if pr := (*bot.PilotRefusal)(nil); errors.As(err, &pr) {
		card = pilotCard(pr)
	} else if err != nil {
		a.log.Warn("teams: role choices", "chat_user", who.ChatUser, "err", err)
	}
	act := Activity{Type: "message", Summary: "Request an admin role",
		Attachments: []schema.Attachment{{ContentType: cardContentType, Content: card}}}
	_, _, err = a.sendDM(ctx, who.ChatUser, act)
	return err
}

func formOf(v map[string]any) bot.Form {
	s := func(k string) string { x, _ := v[k].(string); return x }
	return bot.Form{Role: s(bot.FieldRole), Duration: s(bot.FieldDuration), Justification: s(bot.FieldJustification), Ticket: s(bot.FieldTicket)}
}

// invokeResponse is the body Teams expects for adaptiveCard/action.
type invokeResponse struct {
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Value      any    `json:"value"`
}

func writeInvoke(w http.ResponseWriter, resp invokeResponse) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(resp)
}

func messageResponse(text string) invokeResponse {
	return invokeResponse{StatusCode: 200, Type: "application/vnd.microsoft.activity.message", Value: text}
}

// invoke answers Universal Actions (adaptiveCard/action) in the HTTP response.
func (a *Adapter) invoke(ctx context.Context, w http.ResponseWriter, c Core, act schema.Activity, in inbound) {
	if act.Name != "adaptiveCard/action" {
		w.WriteHeader(http.StatusNotImplemented)
		return
	}
	var v struct {
		Action struct {
			Type string         `json:"type"`
			Verb string         `json:"verb"`
			Data map[string]any `json:"data"`
		} `json:"action"`
	}
	b, _ := json.Marshal(act.Value)
	if json.Unmarshal(b, &v) != nil || v.Action.Type != "Action.Execute" {
		writeInvoke(w, invokeResponse{StatusCode: 400, Type: "application/vnd.microsoft.error", Value: map[string]any{"code": "BadRequest", "message": "not an Action.Execute"}})
		return
	}
	who := a.actor(act, in)
	data := v.Action.Data
	value, _ := data["value"].(string)
	switch verb := v.Action.Verb; verb {
	case verbRefresh:
		writeInvoke(w, a.liveCard(ctx, c, value))
	case verbHome:
		card, err := a.homeCard(ctx, c, who, "")
		if err != nil {
			a.log.Error("teams: home card", "chat_user", who.ChatUser, "err", err)
			writeInvoke(w, invokeResponse{StatusCode: 500, Type: "application/vnd.microsoft.error", Value: map[string]any{"code": "InternalError", "message": "I couldn't read your roles just now; try again in a minute."}})
			return
		}
		writeInvoke(w, invokeResponse{StatusCode: 200, Type: cardContentType, Value: card})
	case verbForm:
		choices, known, err := c.Choices(ctx, who)
		roles := value // a role's one-click button
		if roles == "" {
			roles, _ = data[inputHomeRoles].(string) // the home card's roles picked together
		}
		card := formCard(choices, known, bot.Form{Role: roles}, nil)
		if pr := (*bot.PilotRefusal)(nil); errors.As(err, &pr) {
			card = pilotCard(pr)
		}
		writeInvoke(w, invokeResponse{StatusCode: 200, Type: cardContentType, Value: card})
	case verbRequest:
		f := formOf(data)
		if errs := c.CheckForm(who, f); len(errs) > 0 {
			choices, known, _ := c.Choices(ctx, who)
			writeInvoke(w, invokeResponse{StatusCode: 200, Type: cardContentType, Value: formCard(choices, known, f, errs)})
			return
		}
		job, err := c.SubmitForm(who, f)
		if err != nil {
			a.log.Error("teams: submitting form", "chat_user", who.ChatUser, "err", err)
			writeInvoke(w, invokeResponse{StatusCode: 500, Type: "application/vnd.microsoft.error", Value: map[string]any{"code": "InternalError", "message": "Something went wrong on our side; nothing was changed."}})
			return
		}
		a.background("teams form submit", job)
		sent := bot.Message{Title: "Request sent", Text: "I'll answer in this chat in a moment.",
			Fields: []bot.Field{{Label: "Role", Value: f.Role}, {Label: "Duration", Value: firstNonEmpty(f.Duration, "the role's default")}, {Label: "Justification", Value: f.Justification}}}
		writeInvoke(w, invokeResponse{StatusCode: 200, Type: cardContentType, Value: messageCard(sent, nil)})
	default:
		// Every other button goes to the core's Click, which asks the handlers installed with
		// bot.Core.HandleAction (review Keep / Remove) before its own actions.
		reason := denyReason(data, value)
		wt := a.watch(who.ChatUser)
		defer a.unwatch(wt)
		done := make(chan error, 1)
		a.background("teams click", func(ctx context.Context) error {
			err := c.Click(ctx, who, bot.Action(verb), value, reason)
			done <- err
			return err
		})
		t := time.NewTimer(a.o.InvokeWait)
		defer t.Stop()
		var (
			err      error
			finished bool
		)
		select {
		case err = <-done:
			finished = true
		case <-t.C: // the card is updated in place when the core gets there
		case <-ctx.Done():
			return
		}
		if bot.Action(verb) == bot.ActionApprove || (bot.Action(verb) == bot.ActionDeny && strings.TrimSpace(reason) != "") {
			writeInvoke(w, a.liveCard(ctx, c, value))
			return
		}
		writeInvoke(w, clickResponse(finished, err, wt.replies()))
	}
}

// clickResponse answers a click on a button other than Approve / Deny, whose card stays as it
// is: Teams shows the message by the card. The core's answer (sent to the user's 1:1 chat as
// well) when it came in time; an error when the click failed.
func clickResponse(finished bool, err error, replies []bot.Message) invokeResponse {
	switch {
	case finished && err != nil:
		return invokeResponse{StatusCode: 500, Type: "application/vnd.microsoft.error",
			Value: map[string]any{"code": "InternalError", "message": "Something went wrong on our side; try again in a moment."}}
	case len(replies) > 0:
		var parts []string
		for _, m := range replies {
			if s := plain(firstNonEmpty(m.Text, m.Title)); s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			return messageResponse(cut(strings.Join(parts, " "), 500))
		}
	case !finished:
		return messageResponse("Working on it; I'll message you when it's done.")
	}
	return messageResponse("Done.")
}

// clickWatch collects what the core sends a user privately while their click is answered.
type clickWatch struct {
	user string
	mu   sync.Mutex
	msgs []bot.Message
}

func (w *clickWatch) replies() []bot.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

func (a *Adapter) watch(user string) *clickWatch {
	w := &clickWatch{user: user}
	a.mu.Lock()
	a.watches[w] = struct{}{}
	a.mu.Unlock()
	return w
}

func (a *Adapter) unwatch(w *clickWatch) {
	a.mu.Lock()
	delete(a.watches, w)
	a.mu.Unlock()
}

// noticeReply shows m, sent privately to user, to the clicks of user being answered.
func (a *Adapter) noticeReply(user string, m bot.Message) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for w := range a.watches {
		if w.user == user {
			w.mu.Lock()
			w.msgs = append(w.msgs, m)
			w.mu.Unlock()
		}
	}
}

// liveCard is the approval card of request value as it stands now, for an invoke response.
func (a *Adapter) liveCard(ctx context.Context, c Core, value string) invokeResponse {
	id, err := strconv.ParseUint(value, 10, 64)
	if err != nil {
		return invokeResponse{StatusCode: 400, Type: "application/vnd.microsoft.error", Value: map[string]any{"code": "BadRequest", "message": "no such request"}}
	}
	m, err := c.Card(id)
	if err != nil {
		return messageResponse("That request no longer exists.")
	}
	return invokeResponse{StatusCode: 200, Type: cardContentType, Value: a.fitCard(m, a.refreshUsers(ctx, m))}
}

// refreshUsers are the Teams users who get the live card: the configured approvers Teams has
// shown us (by Entra object id).
func (a *Adapter) refreshUsers(ctx context.Context, m bot.Message) []string {
	c := a.theCore()
	if m.Kind != bot.KindCard || m.RequestID == 0 || c == nil {
		return nil
	}
	oids, err := c.Approvers(ctx, m.RequestID)
	if err != nil || len(oids) == 0 {
		return nil
	}
	convs, err := a.o.Conversations.Conversations(Platform)
	if err != nil {
		return nil
	}
	var out []string
	for _, conv := range convs {
		if strings.HasPrefix(conv.Key, userKeyPrefix) && conv.UserObjectID != "" {
			for _, oid := range oids {
				if strings.EqualFold(oid, conv.UserObjectID) {
					out = append(out, conv.UserID)
				}
			}
		}
	}
	return out
}

// Send posts m: in a channel (approval cards, alerts), or as a direct message to a user.
// Teams has no ephemeral messages, so a Private message goes to the user's 1:1 chat.
func (a *Adapter) Send(ctx context.Context, to bot.Address, m bot.Message) (store.MessageRef, error) {
	users := a.refreshUsers(ctx, m)
	return a.deliver(ctx, to, m, users, a.fit(m, users))
}

// deliver posts act, the rendering of m (with users in its refresh), to to. When Teams refuses
// it as too large, m is sent once more in its shortest form (shorten), without images; if that
// is refused too, the error says so and the outbox drops it.
func (a *Adapter) deliver(ctx context.Context, to bot.Address, m bot.Message, users []string, act Activity) (store.MessageRef, error) {
	if to.User != "" && (to.Private || to.Channel == "") {
		a.noticeReply(to.User, m) // once, though it may be sent twice
	}
	ref, err := a.deliverOnce(ctx, to, m, act)
	if !tooLarge(err) {
		return ref, err
	}
	a.log.Warn("teams: Teams refused the message as too large; sending it shortened", "kind", m.Kind, "request_id", m.RequestID,
		"title", m.Title, "size", messageSize(act), "err", err)
	ref, err = a.deliverOnce(ctx, to, m, render(shorten(m, shortest), users))
	if tooLarge(err) {
		return store.MessageRef{}, refusedTooLarge(m, err)
	}
	return ref, err
}

// deliverOnce posts act to to, once.
func (a *Adapter) deliverOnce(ctx context.Context, to bot.Address, m bot.Message, act Activity) (store.MessageRef, error) {
	act.Timestamp = a.o.Now().UTC()
	if to.Channel != "" && !to.Private {
		conv, err := a.channelNow(ctx, to.Channel)
		if err != nil {
			return store.MessageRef{}, unknownTarget(err)
		}
		act.Conversation = &schema.ConversationAccount{ID: conv.ConversationID}
		id, err := a.conn.Send(ctx, conv.ServiceURL, conv.ConversationID, act)
		if err != nil {
			return store.MessageRef{}, deliveryError(err)
		}
		return store.MessageRef{Platform: Platform, Channel: conv.ConversationID, MessageID: id, Kind: string(m.Kind), At: a.o.Now().UTC()}, nil
	}
	if to.User == "" {
		return store.MessageRef{}, &bot.DeliveryError{Err: errors.New("teams: a message needs a channel or a user"), Refused: true}
	}
	convID, id, err := a.sendDM(ctx, to.User, act)
	if err != nil {
		return store.MessageRef{}, deliveryError(err)
	}
	return store.MessageRef{Platform: Platform, Channel: convID, MessageID: id, Kind: string(m.Kind), At: a.o.Now().UTC()}, nil
}

// Update replaces a message posted earlier (UpdateActivity), for everyone who sees it.
func (a *Adapter) Update(ctx context.Context, ref store.MessageRef, m bot.Message) error {
	conv, err := a.o.Conversations.Conversation(Platform, ref.Channel)
	if errors.Is(err, store.ErrNotFound) && strings.HasPrefix(ref.Channel, "19:") {
		// A channel that never spoke to us, posted to on the tenant's serviceUrl (see channel).
		conv, err = a.channel(ref.Channel)
	}
	if err != nil {
		return unknownTarget(fmt.Errorf("teams: no conversation reference for %s: %w", ref.Channel, err))
	}
	users := a.refreshUsers(ctx, m)
	update := func(act Activity) error {
		act.Timestamp = a.o.Now().UTC()
		act.Conversation = &schema.ConversationAccount{ID: ref.Channel}
		return a.conn.Update(ctx, conv.ServiceURL, ref.Channel, ref.MessageID, act)
	}
	act := a.fit(m, users)
	err = update(act)
	if tooLarge(err) {
		a.log.Warn("teams: Teams refused the update as too large; sending it shortened", "kind", m.Kind, "request_id", m.RequestID,
			"title", m.Title, "size", messageSize(act), "err", err)
		if err = update(render(shorten(m, shortest), users)); tooLarge(err) {
			return refusedTooLarge(m, err)
		}
	}
	return deliveryError(err)
}

// sendDM posts act in the 1:1 chat with user, opening it (createConversation) when the bot
// has not spoken with them yet.
func (a *Adapter) sendDM(ctx context.Context, user string, act Activity) (convID, activityID string, err error) {
	ref, err := a.o.Conversations.Conversation(Platform, userKeyPrefix+user)
	if errors.Is(err, store.ErrNotFound) {
		// Not met yet: a member of a team Elevate is in can be written to all the same.
		if convs, cerr := a.o.Conversations.Conversations(Platform); cerr == nil {
			if _, found, lerr := a.lookupMember(ctx, convs, user); found && lerr == nil {
				ref, err = a.o.Conversations.Conversation(Platform, userKeyPrefix+user)
			}
		}
	}
	if err != nil {
		return "", "", unknownTarget(fmt.Errorf("teams: no conversation reference for user %s (they have not used Elevate in Teams yet): %w", user, err))
	}
	if ref.ConversationID == "" {
		res, err := a.conn.CreateConversation(ctx, ref.ServiceURL, ConversationParams{
			Bot: &schema.ChannelAccount{ID: firstNonEmpty(ref.BotID, a.botID)}, Members: []schema.ChannelAccount{{ID: user}},
			TenantID: a.o.TenantID, ChannelData: map[string]any{"tenant": map[string]any{"id": a.o.TenantID}},
		})
		if err != nil {
			return "", "", err
		}
		if res.ID == "" {
			return "", "", errors.New("teams: createConversation returned no conversation id")
		}
		ref.ConversationID = res.ID
		if res.ServiceURL != "" {
			if err := a.allow.Check(res.ServiceURL); err != nil {
				a.log.Warn("teams: createConversation named a service URL off the allowlist; keeping ours", "reason", err.Error())
			} else {
				ref.ServiceURL = res.ServiceURL
			}
		}
		a.put(ref)
		a.put(store.Conversation{Platform: Platform, Key: res.ID, ConversationID: res.ID, ServiceURL: ref.ServiceURL,
			TenantID: a.o.TenantID, Type: "personal", UserID: user, UserObjectID: ref.UserObjectID, BotID: ref.BotID})
	}
	act.Conversation = &schema.ConversationAccount{ID: ref.ConversationID}
	id, err := a.conn.Send(ctx, ref.ServiceURL, ref.ConversationID, act)
	return ref.ConversationID, id, err
}

// Ready is a readiness check: Elevate can get a Bot Connector token (cached, so this is cheap
// once the first one is fetched), i.e. it can post to Teams.
func (a *Adapter) Ready(ctx context.Context) error {
	_, err := a.conn.tokens.Token(ctx)
	return err
}

// pilotCard is the request form's place for someone outside the pilot: its polite words.
func pilotCard(pr *bot.PilotRefusal) Card {
	return messageCard(bot.Message{Kind: bot.KindText, Title: "Request an admin role", Text: pr.Words}, nil)
}
