package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

var _ bot.Uploader = (*Adapter)(nil)

// SendFiles implements bot.Uploader: m is posted as Send posts it, and each file is then shared
// in the same conversation, right below it (files.getUploadURLExternal, the upload,
// files.completeUploadExternal). The reference returned is the message's, so it stays updatable
// with chat.update: a message made by files.completeUploadExternal (a file with an initial
// comment) has no ts in the answer and could not be updated.
//
// The files are extras: when an upload fails, the message has been delivered all the same and
// its reference is returned; the failure is logged. A private message in a channel (ephemeral)
// cannot carry files; they are left out.
func (a *Adapter) SendFiles(ctx context.Context, to bot.Address, m bot.Message, files []bot.Attachment) (store.MessageRef, error) {
	ref, err := a.Send(ctx, to, m)
	if err != nil || len(files) == 0 {
		return ref, err
	}
	if ref.Channel == "" || ref.MessageID == "" {
		a.log.Warn("files left out of a private message", "channel", to.Channel, "user", to.User, "files", len(files))
		return ref, nil
	}
	for _, f := range files {
		if err := a.upload(ctx, ref.Channel, f); err != nil {
			a.log.Error("slack: sharing a file failed; the message was posted without it", "channel", ref.Channel, "file", f.Name, "err", err)
		}
	}
	return ref, nil
}

// upload shares one file in channel (an id). slack-go retries the first and last of its three
// steps after a 429 (never the upload of the bytes in between, a streamed body); a failed step
// leaves the message without the file, logged, and a file whose upload was not completed is
// never shown, so nothing is shared twice.
func (a *Adapter) upload(ctx context.Context, channel string, f bot.Attachment) error {
	if len(f.Data) == 0 {
		return errors.New("empty file")
	}
	name := f.Name
	if name == "" {
		name = "file"
	}
	title := f.Alt
	if title == "" {
		title = name
	}
	return a.call(ctx, "files.upload", func() error {
		_, err := a.api.UploadFileContext(ctx, slackapi.UploadFileParameters{
			Filename: name, FileSize: len(f.Data), Reader: bytes.NewReader(f.Data),
			Title: truncate(title, 250), AltTxt: truncate(f.Alt, 1000), Channel: channel,
		})
		if err != nil {
			return fmt.Errorf("uploading %s: %w", name, err)
		}
		return nil
	})
}
