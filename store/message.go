package store

import (
	"encoding/json"
	"fmt"
)

// AddMessageRef remembers a message that shows request requestID, so the
// card can be updated when the request changes. Adding the same message
// (platform, channel, message id) again is a no-op, so retried handlers do not
// duplicate it. ErrNotFound if there is no such request.
func (s *Store) AddMessageRef(requestID uint64, ref MessageRef) error {
	ref.At = s.at(ref.At)
	return s.group(func(tx kvTx) error { return addMessageRef(tx, requestID, ref) })
}

func addMessageRef(tx kvTx, requestID uint64, ref MessageRef) error {
	ref.At = utc(ref.At)
	v, err := json.Marshal(ref)
	if err != nil {
		return err
	}
	if _, err := getRequest(tx, requestID); err != nil {
		return err
	}
	msgs, err := bucket(tx, bucketMessages)
	if err != nil {
		return err
	}
	b, err := msgs.CreateBucketIfNotExists(u64(requestID))
	if err != nil {
		return err
	}
	refs, err := messageRefs(b)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if r.Platform == ref.Platform && r.Channel == ref.Channel && r.MessageID == ref.MessageID {
			return nil
		}
	}
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(u64(n), v)
}

// MessageRefs returns the messages showing request requestID, in the order
// they were added; none (and no error) if there are none.
func (s *Store) MessageRefs(requestID uint64) ([]MessageRef, error) {
	var out []MessageRef
	err := s.db.View(func(tx kvTx) error {
		msgs, err := bucket(tx, bucketMessages)
		if err != nil {
			return err
		}
		b := msgs.Bucket(u64(requestID))
		if b == nil {
			return nil
		}
		out, err = messageRefs(b)
		return err
	})
	return out, err
}

func messageRefs(b kvBucket) ([]MessageRef, error) {
	var out []MessageRef
	err := b.ForEach(func(k, v []byte) error {
		var r MessageRef
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("store: message ref %x: %w", k, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
