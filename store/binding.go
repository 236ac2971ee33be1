package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Bind ties a chat user to an Entra user, with audit record ev, in one
// transaction. Binding again to the same Entra user is a no-op (no audit
// record). Binding to a different Entra user is refused with ErrConflict:
// one chat account signing in as someone else is an alert, not an update.
// Binding an Entra user that another chat account of the same platform is
// already bound to is refused with ErrIdentityTaken: only an administrator
// links a second account (Rebind).
//
// The chat user's requests that have no Entra user yet get b.UserID and b.UPN
// (Version+1), so they show up when querying by Entra user; ev is the one
// audit record for all of it.
func (s *Store) Bind(b Binding, ev AuditRecord) error {
	if b.Platform == "" || b.ChatUser == "" || b.UserID == "" {
		return fmt.Errorf("store: binding needs platform, chat user and user id (got %q, %q, %q)", b.Platform, b.ChatUser, b.UserID)
	}
	ev.At = s.at(ev.At)
	if b.BoundAt.IsZero() {
		b.BoundAt = ev.At
	}
	b.BoundAt = b.BoundAt.UTC()
	if ev.Action == "" {
		ev.Action = "identity.bound"
	}
	return s.db.Update(func(tx kvTx) error {
		bb, err := bucket(tx, bucketBindings)
		if err != nil {
			return err
		}
		key := strs(b.Platform, b.ChatUser)
		if v := bb.Get(key); v != nil {
			var cur Binding
			if err := json.Unmarshal(v, &cur); err != nil {
				return fmt.Errorf("store: binding %s/%s: %w", b.Platform, b.ChatUser, err)
			}
			if cur.UserID == b.UserID {
				return nil
			}
			return fmt.Errorf("%w: %s user %s is bound to Entra user %s, not %s",
				ErrConflict, b.Platform, b.ChatUser, cur.UserID, b.UserID)
		}
		if other, ok, err := boundElsewhere(tx, b); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: Entra user %s is bound to %s user %s, not %s", ErrIdentityTaken, b.UserID, b.Platform, other, b.ChatUser)
		}
		return putBinding(tx, b, ev)
	})
}

// boundElsewhere finds another chat user of b's platform bound to b's Entra user.
func boundElsewhere(tx kvTx, b Binding) (string, bool, error) {
	byUser, err := bucket(tx, bucketBindingsByUser)
	if err != nil {
		return "", false, err
	}
	prefix := strs(b.UserID, b.Platform)
	c := byUser.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		other, rest, ok := readStr(k[len(prefix):])
		if !ok || len(rest) != 0 {
			return "", false, fmt.Errorf("%w: binding index key %x", errIndexDangling, k)
		}
		if other != b.ChatUser {
			return other, true, nil
		}
	}
	return "", false, nil
}

// putBinding writes b and its index entry, gives the chat user's unbound requests their Entra
// user, and appends ev.
func putBinding(tx kvTx, b Binding, ev AuditRecord) error {
	bb, err := bucket(tx, bucketBindings)
	if err != nil {
		return err
	}
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := bb.Put(strs(b.Platform, b.ChatUser), v); err != nil {
		return err
	}
	byUser, err := bucket(tx, bucketBindingsByUser)
	if err != nil {
		return err
	}
	if err := byUser.Put(bindingByUserKey(b), []byte{}); err != nil {
		return err
	}
	if err := fillRequestUser(tx, b, ev); err != nil {
		return err
	}
	_, err = appendAudit(tx, ev)
	return err
}

// Rebind is an administrator's binding of a chat user to an Entra user, with
// audit record ev: it replaces the chat user's binding, if any, and is allowed
// even when another chat account of the platform is bound to the same Entra
// user. It returns the binding it replaced (zero when there was none).
func (s *Store) Rebind(b Binding, ev AuditRecord) (Binding, error) {
	if b.Platform == "" || b.ChatUser == "" || b.UserID == "" {
		return Binding{}, fmt.Errorf("store: binding needs platform, chat user and user id (got %q, %q, %q)", b.Platform, b.ChatUser, b.UserID)
	}
	ev.At = s.at(ev.At)
	if b.BoundAt.IsZero() {
		b.BoundAt = ev.At
	}
	b.BoundAt = b.BoundAt.UTC()
	if ev.Action == "" {
		ev.Action = "identity.rebound"
	}
	var old Binding
	err := s.db.Update(func(tx kvTx) error {
		var err error
		if old, err = deleteBinding(tx, b.Platform, b.ChatUser); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return putBinding(tx, b, ev)
	})
	return old, err
}

// Unbind removes a chat user's binding, with audit record ev; the next
// sign-in binds the chat user again. It returns the binding removed, or
// ErrNotFound.
func (s *Store) Unbind(platform, chatUser string, ev AuditRecord) (Binding, error) {
	ev.At = s.at(ev.At)
	if ev.Action == "" {
		ev.Action = "identity.unbound"
	}
	var old Binding
	err := s.db.Update(func(tx kvTx) error {
		var err error
		if old, err = deleteBinding(tx, platform, chatUser); err != nil {
			return err
		}
		_, err = appendAudit(tx, ev)
		return err
	})
	return old, err
}

// deleteBinding removes a chat user's binding and its index entry.
func deleteBinding(tx kvTx, platform, chatUser string) (Binding, error) {
	bb, err := bucket(tx, bucketBindings)
	if err != nil {
		return Binding{}, err
	}
	key := strs(platform, chatUser)
	v := bb.Get(key)
	if v == nil {
		return Binding{}, fmt.Errorf("%w: binding of %s user %s", ErrNotFound, platform, chatUser)
	}
	var cur Binding
	if err := json.Unmarshal(v, &cur); err != nil {
		return Binding{}, fmt.Errorf("store: binding %s/%s: %w", platform, chatUser, err)
	}
	if err := bb.Delete(key); err != nil {
		return Binding{}, err
	}
	byUser, err := bucket(tx, bucketBindingsByUser)
	if err != nil {
		return Binding{}, err
	}
	return cur, byUser.Delete(bindingByUserKey(cur))
}

// fillRequestUser gives the chat user's unbound requests their Entra user.
func fillRequestUser(tx kvTx, b Binding, ev AuditRecord) error {
	ids, _, err := candidates(tx, Filter{Platform: b.Platform, ChatUser: b.ChatUser})
	if err != nil {
		return err
	}
	for _, id := range ids {
		old, err := getRequest(tx, id)
		if err != nil {
			return err
		}
		if old.UserID != "" || old.Platform != b.Platform || old.ChatUser != b.ChatUser {
			continue
		}
		r := old
		r.UserID = b.UserID
		if r.UPN == "" {
			r.UPN = b.UPN
		}
		r.Version++
		r.UpdatedAt = ev.At
		if err := putRequest(tx, r); err != nil {
			return err
		}
		if err := reindexRequest(tx, old, r); err != nil {
			return err
		}
	}
	return nil
}

// Binding returns the binding of a chat user, or ErrNotFound.
func (s *Store) Binding(platform, chatUser string) (Binding, error) {
	var b Binding
	err := s.db.View(func(tx kvTx) error {
		bb, err := bucket(tx, bucketBindings)
		if err != nil {
			return err
		}
		v := bb.Get(strs(platform, chatUser))
		if v == nil {
			return fmt.Errorf("%w: binding of %s user %s", ErrNotFound, platform, chatUser)
		}
		return json.Unmarshal(v, &b)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Binding{}, err
	}
	return b, err
}

// BindingsByUser returns the chat users bound to an Entra user (one per
// platform at most, in practice), e.g. to DM them a review.
func (s *Store) BindingsByUser(userID string) ([]Binding, error) {
	var out []Binding
	err := s.db.View(func(tx kvTx) error {
		byUser, err := bucket(tx, bucketBindingsByUser)
		if err != nil {
			return err
		}
		bb, err := bucket(tx, bucketBindings)
		if err != nil {
			return err
		}
		prefix := strs(userID)
		c := byUser.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			v := bb.Get(k[len(prefix):]) // the rest of the key is the bindings key
			if v == nil {
				return fmt.Errorf("%w: binding %x", errIndexDangling, k)
			}
			var b Binding
			if err := json.Unmarshal(v, &b); err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

func bindingByUserKey(b Binding) []byte {
	return strs(b.UserID, b.Platform, b.ChatUser)
}
