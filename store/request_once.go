package store

// CreateRequestOnceWith is CreateRequestOnce whose out (if not nil) may queue chat deliveries for
// the new request, committed in the same transaction (see CreateRequestWith). Like the request,
// nothing is queued for a replay.
func (s *Store) CreateRequestOnceWith(r Request, ev AuditRecord, once Once, out func(r Request, out *Outbox) error) (Request, error) {
	return s.createRequest(r, ev, once, out)
}
