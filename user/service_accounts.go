package user

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits of service account configuration.
const (
	// MinServiceSecretLen is the shortest secret a service account may
	// have, in characters. Secrets are compared with a fast hash (see
	// ServiceAccounts), so they must be too long to guess, unlike
	// passwords: generate them, e.g. `openssl rand -base64 32`.
	MinServiceSecretLen = 16
	// MaxServiceSecretLen bounds a secret, in bytes.
	MaxServiceSecretLen = 1024
)

// ValidServiceAccountName reports whether name can name a service account:
// 2 to 32 characters of a-z, 0-9 and "-", starting with a letter
// (^[a-z][a-z0-9-]{1,31}$). The name is the OAuth client id and, prefixed,
// the subject of the account's tokens (auth.ServiceSubject).
func ValidServiceAccountName(name string) bool {
	if len(name) < 2 || len(name) > 32 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// ServiceAccounts are the accounts other services log in with to call
// services as themselves (ServiceToken). Only the SHA-256 of each secret is
// kept, so the structure the service holds for its lifetime never contains
// a secret, and a check compares hashes in constant time. A fast hash is
// enough because secrets are long and random (MinServiceSecretLen), unlike
// passwords, which get bcrypt.
//
// The zero value and nil have no accounts. It is safe for concurrent use
// (it is never modified after parsing), and printing it shows only the
// names.
type ServiceAccounts struct {
	hashes map[string][sha256.Size]byte
}

// ParseServiceAccounts parses the -service-accounts setting: comma-separated
// "name:secret" entries, such as "order:3x4mple-s3cret-value,audit:...".
// The secret is everything after the first colon, so it may contain colons
// but not commas; spaces around names and secrets are ignored. An empty spec
// means no accounts.
//
// Every bad entry is reported, joined, by its position ("entry 2") and
// never with any of its text: not the secret, and not the name either,
// which might be a secret put in the wrong place (a swapped "secret:name"
// can look like a valid name with a short secret).
func ParseServiceAccounts(spec string) (*ServiceAccounts, error) {
	a := &ServiceAccounts{hashes: map[string][sha256.Size]byte{}}
	entryOf := map[string]int{} // name -> position, for duplicates
	if strings.TrimSpace(spec) == "" {
		return a, nil
	}
	var problems []error
	for i, entry := range strings.Split(spec, ",") {
		n := i + 1
		entry = strings.TrimSpace(entry)
		if entry == "" {
			problems = append(problems, fmt.Errorf("service accounts entry %d is empty", n))
			continue
		}
		name, secret, ok := strings.Cut(entry, ":")
		if !ok {
			problems = append(problems, fmt.Errorf("service accounts entry %d: want name:secret", n))
			continue
		}
		name, secret = strings.TrimSpace(name), strings.TrimSpace(secret)
		if !ValidServiceAccountName(name) {
			problems = append(problems, fmt.Errorf(
				"service accounts entry %d: the name must be 2 to 32 characters of a-z, 0-9 and -, starting with a letter", n))
			continue
		}
		if first, dup := entryOf[name]; dup {
			problems = append(problems, fmt.Errorf("service accounts entry %d: the name is that of entry %d", n, first))
			continue
		}
		entryOf[name] = n
		switch {
		case utf8.RuneCountInString(secret) < MinServiceSecretLen:
			problems = append(problems, fmt.Errorf("service accounts entry %d: the secret must be at least %d characters", n, MinServiceSecretLen))
			continue
		case len(secret) > MaxServiceSecretLen:
			problems = append(problems, fmt.Errorf("service accounts entry %d: the secret must be at most %d bytes", n, MaxServiceSecretLen))
			continue
		}
		a.hashes[name] = sha256.Sum256([]byte(secret))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return a, nil
}

// Names returns the names of the accounts, sorted.
func (a *ServiceAccounts) Names() []string {
	if a == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(a.hashes))
}

// Len returns the number of accounts.
func (a *ServiceAccounts) Len() int {
	if a == nil {
		return 0
	}
	return len(a.hashes)
}

// Check reports whether secret is the secret of the account name. It does
// the same work whether or not the account exists (a hash and a
// constant-time comparison), so its duration tells nothing about the secret
// and next to nothing about the name.
func (a *ServiceAccounts) Check(name, secret string) bool {
	got := sha256.Sum256([]byte(secret))
	want, known := [sha256.Size]byte{}, false
	if a != nil {
		want, known = a.hashes[name]
	}
	// Compared even for an unknown name, against zeros no secret hashes to.
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return match && known
}

// String returns the names of the accounts, never the hashes. It has a
// value receiver so that a copy prints the same way.
func (a ServiceAccounts) String() string {
	return "service accounts [" + strings.Join(a.Names(), ",") + "]"
}

// GoString is String for %#v.
func (a ServiceAccounts) GoString() string { return a.String() }
