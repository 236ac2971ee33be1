package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

var (
	_ bot.Uploader   = (*Adapter)(nil)
	_ bot.FileSharer = (*Adapter)(nil)
)

// A message with files is posted, then each file is shared right below it in its own message
// (files.getUploadURLExternal, the upload, files.completeUploadExternal with the channel). For
// the outbox, each shared file's name carries the post's outbox key and the file's place
// ("digest-2026-01-05-elevate-outbox-12-1.png"): when an attempt ended without knowing whether a
// file was shared (no answer to files.completeUploadExternal, a crash), the retry finds the
// message (FindSent), then looks in the conversation's history after it for a file of that name
// uploaded by the bot itself (ShareFiles), and shares only the files it does not find. A member
// can upload a file of the same name, never one that is the bot user's. Without the history
// scopes nothing can be found, and the message and its files are posted again, as any post whose
// answer was lost is (at least once, never lost).

// SendFiles implements bot.Uploader: m is posted as Send posts it, and each file is then shared
// in the same conversation, right below it. The reference returned is the message's, so it stays
// updatable with chat.update: a message made by files.completeUploadExternal (a file with an
// initial comment) has no ts in the answer and could not be updated.
//
// A file that Slack refuses for good (too large, a bad type) is left out and logged: the message
// stands without it. A file that could not be shared yet (no answer, a rate limit, Slack failing)
// makes SendFiles return the message's reference with an error that says the message was posted,
// so that the outbox retries: it finds the message and shares what is missing (ShareFiles). A
// private message in a channel (ephemeral) cannot carry files; they are left out.
func (a *Adapter) SendFiles(ctx context.Context, to bot.Address, m bot.Message, files []bot.Attachment) (store.MessageRef, error) {
	ref, err := a.Send(ctx, to, m)
	if err != nil || len(files) == 0 {
		return ref, err
	}
	if ref.Channel == "" || ref.MessageID == "" {
		a.log.Warn("files left out of a private message", "channel", to.Channel, "user", to.User, "files", len(files))
		return ref, nil
	}
	return ref, a.share(ctx, ref, m.Key, files, false)
}

// ShareFiles implements bot.FileSharer: ref is m's post, found in the history after an attempt
// whose outcome was unknown; the files that attempt did not share are shared now, each once.
func (a *Adapter) ShareFiles(ctx context.Context, ref store.MessageRef, m bot.Message, files []bot.Attachment) error {
	if ref.Channel == "" || ref.MessageID == "" || len(files) == 0 {
		return nil
	}
	return a.share(ctx, ref, m.Key, files, m.Key != "")
}

// share shares files below the message ref; look says an earlier attempt may have shared some.
func (a *Adapter) share(ctx context.Context, ref store.MessageRef, key string, files []bot.Attachment, look bool) error {
	var (
		pending []string
		errs    []error
		wait    time.Duration
	)
	var shared map[string]bool
	if look {
		var err error
		if shared, err = a.sharedFiles(ctx, ref); err != nil {
			return fmt.Errorf("slack: looking for the files of %s in %s: %w", ref.MessageID, ref.Channel, err)
		}
	}
	for i, f := range files {
		name := sharedName(f.Name, key, i)
		if shared[name] {
			a.log.Info("slack: file already shared below its message", "channel", ref.Channel, "ts", ref.MessageID, "file", name)
			continue
		}
		err := a.upload(ctx, ref.Channel, name, f)
		if err == nil {
			continue
		}
		if fileRefused(err) {
			a.log.Error("slack: Slack refused a file; the message stands without it", "channel", ref.Channel, "ts", ref.MessageID, "file", name, "err", err)
			continue
		}
		var rl *slackapi.RateLimitedError
		if errors.As(err, &rl) {
			wait = max(wait, rl.RetryAfter)
		}
		pending, errs = append(pending, name), append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	// Not NotSent: the message itself was posted, so the outbox looks for it before trying again.
	return &bot.DeliveryError{RetryAfter: wait,
		Err: fmt.Errorf("slack: message %s posted in %s, but %s not shared yet: %w", ref.MessageID, ref.Channel, strings.Join(pending, ", "), errors.Join(errs...))}
}

// sharedName is the name a file is shared under: its own, with the outbox key and its place
// among the post's files when the post has a key.
func sharedName(name, key string, i int) string {
	if name == "" {
		name = "file"
	}
	if key == "" {
		return name
	}
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "-" + key + "-" + strconv.Itoa(i+1) + ext
}

// errEmptyFile is a file without bytes: Slack refuses a length of 0.
var errEmptyFile = errors.New("empty file")

// fileRefused says whether Slack answered a file's step with a refusal that no retry changes.
func fileRefused(err error) bool {
	if errors.Is(err, errEmptyFile) {
		return true
	}
	var se slackapi.SlackErrorResponse
	if !errors.As(err, &se) {
		return false // no answer, a 429 or an HTTP error: try again later
	}
	switch se.Err {
	case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited", "team_added_to_org":
		return false
	}
	return true
}

// upload shares one file in channel (an id) under name, step by step so that a failure is known
// by its step: a file whose upload was not completed is never shown, so only a missing answer
// to files.completeUploadExternal leaves open whether it was shared. slack-go retries the first
// and last steps after a 429 (never the upload of the bytes in between, a streamed body).
func (a *Adapter) upload(ctx context.Context, channel, name string, f bot.Attachment) error {
	if len(f.Data) == 0 {
		return errEmptyFile
	}
	title := f.Alt
	if title == "" {
		title = f.Name
	}
	if title == "" {
		title = name
	}
	var u *slackapi.GetUploadURLExternalResponse
	err := a.call(ctx, "files.getUploadURLExternal", func() (err error) {
		u, err = a.api.GetUploadURLExternalContext(ctx, slackapi.GetUploadURLExternalParameters{
			FileName: name, FileSize: len(f.Data), AltTxt: truncate(f.Alt, 1000)})
		return err
	})
	if err != nil {
		return fmt.Errorf("uploading %s (files.getUploadURLExternal): %w", name, err)
	}
	if err := a.api.UploadToURL(ctx, slackapi.UploadToURLParameters{UploadURL: u.UploadURL, Reader: bytes.NewReader(f.Data), Filename: name}); err != nil {
		return fmt.Errorf("uploading %s (upload URL): %w", name, err)
	}
	err = a.call(ctx, "files.completeUploadExternal", func() error {
		_, err := a.api.CompleteUploadExternalContext(ctx, slackapi.CompleteUploadExternalParameters{
			Files: []slackapi.FileSummary{{ID: u.FileID, Title: truncate(title, 250)}}, Channel: channel})
		return err
	})
	if err != nil {
		return fmt.Errorf("sharing %s (files.completeUploadExternal): %w", name, err)
	}
	return nil
}

// sharedFiles are the names of the files the bot itself uploaded and shared in ref's
// conversation after ref's message, read once for all of a post's files. Like FindSent, it
// finds none when it cannot look (no history scope, logged once; not a bot token): those files
// are shared again, at least once.
func (a *Adapter) sharedFiles(ctx context.Context, ref store.MessageRef) (map[string]bool, error) {
	me, err := a.self(ctx)
	if err != nil {
		return nil, deliveryError(err)
	}
	if me.userID == "" || me.botID == "" {
		return nil, nil
	}
	names := map[string]bool{}
	p := &slackapi.GetConversationHistoryParameters{ChannelID: ref.Channel, Limit: 200, Oldest: ref.MessageID}
	for range findPages {
		var res *slackapi.GetConversationHistoryResponse
		err := a.call(ctx, "conversations.history", func() (err error) {
			res, err = a.api.GetConversationHistoryContext(ctx, p)
			return err
		})
		if err != nil {
			return nil, a.findFailed(err)
		}
		for _, m := range res.Messages {
			if m.User != me.userID && m.BotID != me.botID {
				continue
			}
			for _, f := range m.Files {
				// The file's uploader, not only the message's author: only the bot user's file is ours.
				if f.User == me.userID {
					names[f.Name] = true
				}
			}
		}
		if res.ResponseMetaData.NextCursor == "" {
			return names, nil
		}
		p.Cursor = res.ResponseMetaData.NextCursor
	}
	a.log.Warn("slack: history after the message longer than the pages read; files not found in them are shared again", "channel", ref.Channel, "ts", ref.MessageID)
	return names, nil
}
