package teams

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

var _ bot.Uploader = (*Adapter)(nil)

// maxActivity is the size up to which an activity with images is sent, images included: Teams
// once documented about 28 KB for a whole message, and now leaves embedded images out of its
// count (size.go); a card with images stays under the smaller of the two.
const maxActivity = 26 << 10

// imageMIME are the image types Teams shows from a data URI in an Adaptive Card.
var imageMIME = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true}

// SendFiles implements bot.Uploader: Teams has no file upload for bots outside personal chats,
// so images (the digest's chart) are embedded in m's Adaptive Card as Image elements with a
// data: URL, below the fields.
//
// The files are extras: a file that is not an image, or an image that would make the activity
// larger than Teams accepts, is left out with a warning, and m is posted without it. The
// reference returned is the message's; Update re-renders m without the images.
func (a *Adapter) SendFiles(ctx context.Context, to bot.Address, m bot.Message, files []bot.Attachment) (store.MessageRef, error) {
	var images []Card
	for _, f := range files {
		img, ok := imageElement(f)
		if !ok {
			a.log.Warn("teams: file left out of the card (only PNG, JPEG and GIF images can be shown)", "file", f.Name, "mime", f.MIME, "bytes", len(f.Data))
			continue
		}
		images = append(images, img)
	}
	users := a.refreshUsers(ctx, m)
	act := a.fit(m, users, images...)
	for len(images) > 0 && activitySize(act) > maxActivity {
		last := images[len(images)-1]
		images = images[:len(images)-1]
		a.log.Warn("teams: image left out of the card: the activity would exceed Teams' size limit",
			"image", last["altText"], "data_url_bytes", len(last["url"].(string)), "limit", maxActivity)
		act = a.fit(m, users, images...)
	}
	return a.deliver(ctx, to, m, users, act)
}

// imageElement is f as an Adaptive Card Image with a data: URL.
func imageElement(f bot.Attachment) (Card, bool) {
	mime := strings.ToLower(strings.TrimSpace(f.MIME))
	if mime == "" {
		mime = sniffImage(f.Data)
	}
	if !imageMIME[mime] || len(f.Data) == 0 {
		return nil, false
	}
	alt := firstNonEmpty(f.Alt, f.Name, "Image")
	return Card{"type": "Image", "url": "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(f.Data),
		"altText": cut(alt, 500), "size": "Stretch", "spacing": "Medium"}, true
}

func sniffImage(b []byte) string {
	switch {
	case strings.HasPrefix(string(b), "\x89PNG\r\n\x1a\n"):
		return "image/png"
	case strings.HasPrefix(string(b), "\xff\xd8\xff"):
		return "image/jpeg"
	case strings.HasPrefix(string(b), "GIF8"):
		return "image/gif"
	}
	return ""
}

// activitySize is act's size on the wire, as the Bot Connector measures it (before the
// conversation and timestamp are set; they add well under a kilobyte).
func activitySize(act Activity) int {
	b, err := json.Marshal(act)
	if err != nil {
		return maxActivity + 1
	}
	return len(b) + 512
}
