package demo_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestScheduleStory plays the scheduled work after the story: a digest with its chart, a review
// prompt answered, and the review's status.
func TestScheduleStory(t *testing.T) {
	var out bytes.Buffer
	w := start(t, &out)
	if err := w.Story(context.Background()); err != nil {
		t.Fatalf("story: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := w.ScheduleStory(context.Background()); err != nil {
		t.Fatalf("schedule story: %v\n%s", err, out.String())
	}
	transcript := out.String()
	for _, want := range []string{"Weekly PIM digest", "through Elevate", "[chart: ", "bytes PNG",
		"Do you still need Exchange Administrator? You activated it", "Noted: you keep", "answered ("} {
		if !strings.Contains(transcript, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log(transcript)
	}
}
