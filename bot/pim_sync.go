package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/store"
)

// Pollers a scheduler calls: activations made outside Elevate (posted to the security channel)
// and PIM approvals requested outside Elevate (posted to the approvals channel). Each remembers
// in the store what it has seen, so nothing is posted twice, across restarts too.

// auditOverlap is how far back each poll reaches before its high-water mark: the audit log
// lags by minutes, so windows overlap and ids de-duplicate.
const auditOverlap = 15 * time.Minute

type auditCursor struct {
	Since time.Time `json:"since"`
	// Started is when the poll first ran: what PIM recorded before is summarised once, not
	// posted event by event.
	Started time.Time            `json:"started,omitzero"`
	Seen    map[string]time.Time `json:"seen,omitempty"` // audit id → event time, pruned past the overlap
}

func (c *Core) loadCursor(name string) auditCursor {
	var cur auditCursor
	if b, err := c.store.Cursor(name); err == nil && b != nil {
		_ = json.Unmarshal(b, &cur)
	}
	if cur.Seen == nil {
		cur.Seen = map[string]time.Time{}
	}
	return cur
}

func (c *Core) saveCursor(name string, cur auditCursor) error {
	for id, at := range cur.Seen {
		if at.Before(cur.Since.Add(-2 * auditOverlap)) {
			delete(cur.Seen, id)
		}
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	return c.store.SetCursor(name, b)
}

// elevateMade says whether Elevate made the PIM request graphRequestID for user (an activation,
// or a scheduled extension of one).
func (c *Core) elevateMade(userID, graphRequestID string) (bool, error) {
	if graphRequestID == "" {
		return false, nil
	}
	rs, err := c.store.Requests(store.Filter{UserID: userID})
	if err != nil {
		return false, err
	}
	for _, r := range rs {
		if strings.EqualFold(r.GraphRequestID, graphRequestID) || slices.Contains(c.extension(r.ID).All, graphRequestID) ||
			(r.Extension != nil && slices.ContainsFunc(r.Extension.Requests, func(id string) bool { return strings.EqualFold(id, graphRequestID) })) {
			return true, nil
		}
	}
	return false, nil
}

// writing says whether Elevate has an activation of roleID for userID in flight or of unknown
// outcome since before at: PIM's record of it may be that write, which Reconcile will find.
func (c *Core) writing(userID, roleID string, at time.Time) bool {
	rs, err := c.store.Requests(store.Filter{UserID: userID, OpenOnly: true})
	if err != nil {
		return false
	}
	return slices.ContainsFunc(rs, func(r store.Request) bool {
		return strings.EqualFold(r.RoleID, roleID) && r.Write != nil && r.Write.Action == store.WriteActivate &&
			!r.Write.At.After(at.Add(10*time.Minute)) // margin: Elevate's and Entra's clocks
	})
}

// platforms are the registered chat platforms, sorted.
func (c *Core) platforms() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for p := range c.messengers {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// platformOf is where an Entra user is known in chat (their binding), else the first platform.
func (c *Core) platformOf(userID string) (platform, chatUser string) {
	if bs, err := c.store.BindingsByUser(userID); err == nil && len(bs) > 0 {
		return bs[0].Platform, bs[0].ChatUser
	}
	if ps := c.platforms(); len(ps) > 0 {
		return ps[0], ""
	}
	return "", ""
}

// SyncOutsideActivations posts to the security channel every PIM activation since `since`
// (or since the last run, whichever is later) that Elevate did not make: the Entra portal,
// PowerShell, another tool. It returns how many it posted.
func (c *Core) SyncOutsideActivations(ctx context.Context, since time.Time) (int, error) {
	pg, ok := c.pim()
	if !ok {
		return 0, errors.New("bot: this Graph client cannot read directory audits")
	}
	const name = "audit/outside_activations"
	cur := c.loadCursor(name)
	from := since
	if !cur.Since.IsZero() && cur.Since.Add(-auditOverlap).After(from) {
		from = cur.Since.Add(-auditOverlap)
	}
	evs, err := pg.DirectoryAudits(ctx, graph.ActivityActivationCompleted, from)
	if err != nil {
		return 0, err
	}
	if cur.Started.IsZero() {
		cur.Started = c.now().UTC()
	}
	posted := 0
	var before []graph.AuditEvent // outside Elevate, before its first poll: one summary
	for _, e := range evs {
		if _, seen := cur.Seen[e.ID]; seen {
			continue
		}
		cur.Seen[e.ID] = e.At
		if e.At.After(cur.Since) {
			cur.Since = e.At
		}
		mine, err := c.elevateMade(e.TargetID, e.RequestID)
		if err != nil {
			return posted, err
		}
		if !mine && c.writing(e.TargetID, e.RoleID, e.At) {
			// Elevate's own write whose answer was lost: not marked seen, so it is checked
			// again once Reconcile has recorded PIM's request id.
			delete(cur.Seen, e.ID)
			continue
		}
		if mine || c.cfg.Channels.Security == "" {
			continue
		}
		if e.At.Before(cur.Started) {
			before = append(before, e)
			continue
		}
		text := fmt.Sprintf("Activated outside Elevate: %s activated %s at %s", c.auditWho(ctx, e), c.auditWhat(e), c.clock(e.At))
		if d, ok := isoDuration(e.Duration); ok {
			text += " for " + hm(d)
		}
		text += " (Entra portal, PowerShell or another tool)"
		if e.Justification != "" {
			text += ": " + e.Justification
		}
		text += "."
		platform, _ := c.platformOf(e.TargetID)
		if platform == "" {
			continue
		}
		if c.enqueue(ctx, nil, func(out *outbox) error { out.alert(platform, Message{Kind: KindAlert, Text: text}); return nil }) == nil {
			posted++
		}
	}
	if len(before) > 0 && c.postBefore(ctx, cur.Started, before) {
		posted++
	}
	return posted, c.saveCursor(name, cur)
}

// auditWho names the principal of an audit event: its UPN, else the directory's (cached).
func (c *Core) auditWho(ctx context.Context, e graph.AuditEvent) string {
	if e.Upn != "" {
		return e.Upn
	}
	if e.TargetID != "" {
		if upn, err := c.upnOf(ctx, e.TargetID); err == nil && upn != "" {
			return upn
		}
	}
	return cmpOr(e.TargetName, e.TargetID)
}

// auditWhat names what an audit event activated: a role, or a group's membership.
func (c *Core) auditWhat(e graph.AuditEvent) string {
	name := cmpOr(e.RoleName, e.RoleID)
	if role := c.cfg.RoleByID(e.RoleID); role != nil {
		name = role.Name
	}
	if e.Group {
		return "membership of the group " + name + " (PIM for Groups)"
	}
	return name
}

// postBefore summarises, in one alert, the activations PIM recorded outside Elevate before
// Elevate's first poll: a fresh store must not replay the past as 15 separate alarms.
func (c *Core) postBefore(ctx context.Context, started time.Time, evs []graph.AuditEvent) bool {
	count := map[string]int{}
	var keys []string
	for _, e := range evs {
		k := c.auditWho(ctx, e) + ": " + c.auditWhat(e)
		if count[k] == 0 {
			keys = append(keys, k)
		}
		count[k]++
	}
	var lines []string
	for _, k := range keys {
		line := "• " + k
		if n := count[k]; n > 1 {
			line += fmt.Sprintf(" (%d times)", n)
		}
		lines = append(lines, line)
	}
	text := fmt.Sprintf("Before Elevate started watching (%s), PIM recorded %d activation%s made outside Elevate (Entra portal, PowerShell or another tool) since %s:\n%s\nThe Entra audit log has the details; from now on each one is posted as it happens.",
		c.clock(started), len(evs), plural(len(evs)), evs[0].At.In(c.loc).Format("2 Jan 15:04"), strings.Join(lines, "\n"))
	platform, _ := c.platformOf(evs[0].TargetID)
	if platform == "" {
		return false
	}
	return c.enqueue(ctx, nil, func(out *outbox) error { out.alert(platform, Message{Kind: KindAlert, Text: text}); return nil }) == nil
}

// SyncPIMApprovals surfaces PIM approvals requested outside Elevate (in the Entra portal) on
// the approvals channel, with the same card: an approver's click decides in PIM with their own
// token. It reads the directory audit log for approval requests since its last run (the first
// run looks back a day, PIM's default approval window) and returns how many cards it posted.
func (c *Core) SyncPIMApprovals(ctx context.Context) (int, error) {
	pg, ok := c.pim()
	if !ok {
		return 0, errors.New("bot: this Graph client cannot read directory audits")
	}
	const name = "audit/pim_approvals"
	cur := c.loadCursor(name)
	from := c.now().Add(-24 * time.Hour)
	if !cur.Since.IsZero() {
		from = cur.Since.Add(-auditOverlap)
	}
	evs, err := pg.DirectoryAudits(ctx, graph.ActivityApprovalRequested, from)
	if err != nil {
		return 0, err
	}
	posted := 0
	for _, e := range evs {
		if _, seen := cur.Seen[e.ID]; seen {
			continue
		}
		if e.At.After(cur.Since) {
			cur.Since = e.At
		}
		mine, err := c.elevateMade(e.TargetID, e.RequestID)
		if err != nil {
			return posted, err
		}
		if !mine && c.writing(e.TargetID, e.RoleID, e.At) {
			continue // Elevate's own write whose answer was lost; Reconcile attaches it
		}
		if mine || e.RequestID == "" || e.TargetID == "" {
			cur.Seen[e.ID] = e.At
			continue
		}
		// Still pending? The app may not be allowed to read requests (reference §3.2): then
		// the card goes up, and an approver's click finds out.
		if sr, err := pg.RoleRequest(ctx, graph.UserToken{}, e.RequestID); err == nil && sr.Status != "PendingApproval" {
			cur.Seen[e.ID] = e.At
			continue
		} else if err != nil && !errors.Is(err, graph.ErrForbidden) {
			c.log.Warn("reading a PIM request", "graph_request_id", e.RequestID, "err", err)
		}
		platform, chatUser := c.platformOf(e.TargetID)
		if platform == "" {
			return posted, c.saveCursor(name, cur)
		}
		d, _ := isoDuration(e.Duration)
		roleName := cmpOr(e.RoleName, e.RoleID)
		if role := c.cfg.RoleByID(e.RoleID); role != nil {
			roleName = role.Name
		}
		r := store.Request{Platform: platform, ChatUser: chatUser, UserID: e.TargetID, UPN: e.Upn,
			RoleID: strings.ToLower(e.RoleID), RoleName: roleName, Duration: d, Justification: e.Justification,
			State: store.StateAwaitingApproval, ApprovalsNeeded: 1, GraphRequestID: e.RequestID, GraphStatus: "PendingApproval",
			CreatedAt: e.At.UTC(), ExpiresAt: e.At.UTC().Add(24 * time.Hour), PIMStageExpiresAt: e.At.UTC().Add(24 * time.Hour)}
		if details := e.Details["TicketNumber"]; details != "" {
			r.Ticket = details
		}
		var queued []store.OutboxItem
		r, err = c.store.CreateRequestWith(r, systemEvent(c.now(), "request.pim_approval_seen", "requested outside Elevate: "+e.RequestID), func(r store.Request, ob *store.Outbox) error {
			out := &outbox{c: c, ob: ob}
			out.postCard(r)
			queued = ob.Added()
			return out.err
		})
		if err != nil {
			return posted, err
		}
		cur.Seen[e.ID] = e.At
		c.notify(ctx, r)
		c.flush(ctx, queued)
		posted++
	}
	return posted, c.saveCursor(name, cur)
}

var isoRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// isoDuration reads the ISO 8601 durations PIM writes (P1D, PT4H, PT1H30M).
func isoDuration(s string) (time.Duration, bool) {
	m := isoRE.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil || s == "P" {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	return d, d > 0
}
