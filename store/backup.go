package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the whole store to w while it stays in use: one read
// transaction, so writers are not blocked. It returns the number of bytes written.
func (s *Store) Backup(w io.Writer) (int64, error) {
	wt, ok := s.db.(io.WriterTo)
	if !ok {
		return 0, errBackupUnsupported
	}
	n, err := wt.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// On PostgreSQL there is no file: Backup returns an error saying to use the server's backups.

// BackupFile writes a consistent copy of the store to path (mode 0600) through a temporary file,
// so a crash never leaves a half-written backup under the final name.
func (s *Store) BackupFile(path string) (int64, error) {
	if _, ok := s.db.(io.WriterTo); !ok {
		return 0, errBackupUnsupported
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	n, err := s.Backup(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}
