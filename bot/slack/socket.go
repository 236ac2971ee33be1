package slack

import (
	"context"
	"errors"
	"io"
	"log"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// RunSocket serves Slack over Socket Mode (no public ingress needed) until ctx is done: slash
// commands, interactivity and events arrive over a WebSocket the app opens with its app-level
// token, and are acknowledged on it. A lost connection is reopened with backoff.
func (a *Adapter) RunSocket(ctx context.Context) error {
	if a.app == "" {
		return errors.New("slack: Socket Mode needs an app-level token (SLACK_APP_TOKEN)")
	}
	sm := socketmode.New(a.api, socketmode.OptionLog(log.New(io.Discard, "", 0)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				a.socketEvent(ctx, sm, evt)
			}
		}
	}()
	a.socketOn.Store(true)
	wait := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := sm.RunContext(ctx)
		a.socketUp.Store(false)
		if ctx.Err() != nil {
			break
		}
		if time.Since(start) > time.Minute {
			wait = time.Second
		}
		a.log.Error("slack socket mode stopped; reconnecting", "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, time.Minute)
	}
	<-done
	return nil
}

func (a *Adapter) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.socketUp.Store(true)
		a.log.Info("slack socket mode connected")
		return
	case socketmode.EventTypeConnecting, socketmode.EventTypeConnectionError, socketmode.EventTypeDisconnect:
		a.socketUp.Store(false)
		return
	case socketmode.EventTypeInvalidAuth:
		a.socketUp.Store(false)
		a.log.Error("slack socket mode: the app-level token was refused")
		return
	case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive, socketmode.EventTypeEventsAPI:
	default:
		return
	}
	if evt.Request == nil {
		return
	}
	// Slack redelivers what it thinks was not acknowledged, after a reconnect under a new
	// envelope id: the user's action is handled once, told by what identifies it (the command's
	// or click's trigger_id, the view, the event id), the envelope id only when nothing else.
	key := ""
	switch data := evt.Data.(type) {
	case slackapi.SlashCommand:
		key = commandKey(data)
	case slackapi.InteractionCallback:
		key = interactionKey(data)
	case slackevents.EventsAPIEvent:
		if cb, ok := data.Data.(*slackevents.EventsAPICallbackEvent); ok && cb.EventID != "" {
			key = "slack:event:" + cb.EventID
		}
	}
	if key == "" && evt.Request.EnvelopeID != "" {
		key = "slack:envelope:" + evt.Request.EnvelopeID
	}
	first, err := a.first(key)
	if err != nil {
		return // not acknowledged: Slack delivers it again
	}
	if !first {
		_ = sm.AckCtx(ctx, evt.Request.EnvelopeID, nil)
		return
	}
	release := a.hold()
	defer release()
	var ak ack
	switch data := evt.Data.(type) {
	case slackapi.SlashCommand:
		ak = a.command(data)
	case slackapi.InteractionCallback:
		ak = a.interaction(data)
	case slackevents.EventsAPIEvent:
		ak = a.event(data)
	}
	if err := sm.AckCtx(ctx, evt.Request.EnvelopeID, ak.body); err != nil {
		a.log.Error("slack socket mode ack failed", "envelope_id", evt.Request.EnvelopeID, "err", err)
	}
	if ak.then != nil {
		ak.then()
	}
}

// Connected is a readiness check: with Socket Mode on, the socket must be connected; over HTTP
// there is no connection to check (Slack calls us).
func (a *Adapter) Connected(context.Context) error {
	if a.socketOn.Load() && !a.socketUp.Load() {
		return errors.New("slack: socket mode is not connected")
	}
	return nil
}
