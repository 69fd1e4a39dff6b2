package user

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/validate"
)

// Identifiers and the other text fields of the service are checked here,
// before anything reaches the database: Postgres refuses NUL bytes and
// invalid UTF-8 with an error that would otherwise be a 500.

// NormalizeEmail returns the one form of email that accounts are stored
// and looked up by, or an Invalid error naming the field "email".
//
// Spaces around it are trimmed. Both parts are mapped with the PRECIS
// UsernameCaseMapped profile (RFC 8265): full-width forms become their
// ordinary ones, letters are lower-cased and composed (NFC), so
// "ＡＮＮ@Example.com" and "ann@example.com" are one account (though RFC
// 5321 lets a mail server treat the local part as case-sensitive, none in
// practice does). Refused: control and invisible characters (zero-width
// spaces and other format characters, which would make two addresses that
// look the same), characters PRECIS disallows, and a part before the @, or
// a domain label, that mixes scripts, such as a Cyrillic "а" among Latin
// letters: "аda@example.com" is a look-alike of "ada@example.com", not
// another person.
func NormalizeEmail(email string) (string, error) {
	var v validator
	email = v.email(email)
	return email, v.Err()
}

// maxRawEmailBytes bounds an email before it is normalised, so that a
// hostile megabyte costs nothing; normalising never shrinks an address by
// more than full-width forms do (3 bytes to 1).
const maxRawEmailBytes = 4 * MaxEmailLen

func (v *validator) email(s string) string {
	email, problem := normalizeEmail(s)
	if problem != "" {
		v.Add("email", problem)
	}
	return email
}

const msgNotAnEmail = "must be an email address such as ann@example.com"

// normalizeEmail implements NormalizeEmail; the problem is "" or the
// message for the field.
func normalizeEmail(s string) (email, problem string) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", "must not be empty"
	case len(s) > maxRawEmailBytes:
		return "", "must be at most 254 bytes"
	case !utf8.ValidString(s):
		return "", "must be valid UTF-8"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", "must not contain control characters"
	case strings.ContainsFunc(s, invisible):
		return "", "must not contain invisible characters such as zero-width spaces"
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", msgNotAnEmail
	}
	local, err := precis.UsernameCaseMapped.String(s[:at])
	if err != nil {
		return "", msgNotAnEmail
	}
	domain, err := precis.UsernameCaseMapped.String(s[at+1:])
	if err != nil {
		return "", msgNotAnEmail
	}
	if mixedScripts(local) {
		return "", "must not mix scripts (such as Latin and Cyrillic letters) before the @"
	}
	for label := range strings.SplitSeq(domain, ".") {
		if mixedScripts(label) {
			return "", "must not mix scripts (such as Latin and Cyrillic letters) in a part of the domain"
		}
	}
	email = local + "@" + domain
	switch {
	case len(email) > MaxEmailLen:
		return "", "must be at most 254 bytes"
	case !validEmail(email):
		return "", msgNotAnEmail
	}
	return email, ""
}

// invisible reports whether r is a character that shows nothing: a format
// character (zero-width space and joiners, bidi controls, soft hyphen) or
// another default-ignorable code point (variation selectors, fillers).
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) ||
		r == '\u3164' || r == '\uFFA0' || r == '\u115F' || r == '\u1160' // Hangul fillers
}

// mixedScripts reports whether s has letters or digits of more than one
// script, ignoring characters common to all scripts (ASCII digits and
// punctuation) and combining marks. The combinations a single writing
// system uses (Japanese kana with Han, Korean Hangul with Han, each with
// Latin) are one script here, as in the "highly restrictive" level of
// Unicode's UTS #39.
func mixedScripts(s string) bool {
	var seen []string
	for _, r := range s {
		name := scriptOf(r)
		if name == "" {
			continue
		}
		found := false
		for _, n := range seen {
			found = found || n == name
		}
		if !found {
			seen = append(seen, name)
		}
	}
	if len(seen) <= 1 {
		return false
	}
	for _, allowed := range [][]string{
		{"Latin", "Han", "Hiragana", "Katakana"},
		{"Latin", "Han", "Hangul"},
		{"Latin", "Han", "Bopomofo"},
	} {
		if subset(seen, allowed) {
			return false
		}
	}
	return true
}

// scriptOf returns the name of r's script, or "" for Common and Inherited.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	if unicode.In(r, unicode.Common, unicode.Inherited) {
		return ""
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

func subset(names, of []string) bool {
	for _, n := range names {
		found := false
		for _, o := range of {
			found = found || n == o
		}
		if !found {
			return false
		}
	}
	return true
}

// validEmail accepts a bare address as net/mail parses it: no display name,
// no angle brackets, no comments, and a domain with a dot, since kitshop
// mails no hosts on its own network.
func validEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.ContainsAny(domain, "[]") &&
		!strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") &&
		!strings.ContainsFunc(s, unicode.IsControl)
}

// ValidateNew normalises u (email as by NormalizeEmail, name trimmed) and
// checks every field, returning an Invalid error that lists all bad fields.
// The password is never normalised: its bytes are the secret.
func ValidateNew(u NewUser) (NewUser, error) {
	var v validator
	u.Email = v.email(u.Email)
	v.password(u.Password, u.Email)
	u.Name = v.name(u.Name)
	return u, v.Err()
}

// ValidatePatch normalises and checks the fields set in patch. An empty
// patch is Invalid: it is almost certainly a client bug (a misspelt field).
// The new password's policy check against the email happens in Update,
// which knows the email.
func ValidatePatch(patch Patch) (Patch, error) {
	if patch.Empty() && patch.CurrentPassword == nil {
		return patch, errs.New(errs.Invalid, "patch must set at least one field")
	}
	var v validator
	if patch.Name != nil {
		name := v.name(*patch.Name)
		patch.Name = &name
	}
	switch {
	case patch.Password != nil && (patch.CurrentPassword == nil || *patch.CurrentPassword == ""):
		v.Add("current_password", "is required to change the password")
	case patch.Password == nil && patch.CurrentPassword != nil:
		v.Add("current_password", "is only used together with password")
	case patch.CurrentPassword != nil:
		v.text("current_password", *patch.CurrentPassword, maxPresentedBytes)
	}
	if patch.Password != nil {
		v.password(*patch.Password, "")
	}
	return patch, v.Err()
}

// validator collects field errors so that one response lists them all,
// with the account rules as methods.
type validator struct{ validate.Fields }

// maxPresentedBytes bounds a password or a token presented to be checked
// (not one being set): far above anything valid, it only keeps hostile
// input small.
const maxPresentedBytes = 1024

// text checks a secret presented to be compared: valid UTF-8 without NUL
// bytes, at most max bytes. It reports whether s passed.
func (v *validator) text(field, s string, max int) bool {
	switch {
	case len(s) > max:
		v.Add(field, "is too long")
	case !utf8.ValidString(s):
		v.Add(field, "must be valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		v.Add(field, "must not contain NUL bytes")
	default:
		return true
	}
	return false
}

// loginPassword checks a password presented at login: only that it is
// text, since the policy may have changed since it was set.
func (v *validator) loginPassword(p string) {
	if p == "" {
		v.Add("password", "must not be empty")
		return
	}
	v.text("password", p, maxPresentedBytes)
}

// password applies the password policy: MinPasswordBytes to
// MaxPasswordBytes bytes of UTF-8 without NUL bytes, and not the account's
// email or the email's local part, in any case (the first guesses of anyone
// who knows the email). email is normalised, or empty if not known yet.
func (v *validator) password(p, email string) {
	switch {
	case p == "":
		v.Add("password", "must not be empty")
	case len(p) < MinPasswordBytes || len(p) > MaxPasswordBytes:
		v.Add("password", "must be 8 to 72 bytes long")
	case !v.text("password", p, MaxPasswordBytes):
	case email != "" && (strings.EqualFold(p, email) || strings.EqualFold(p, localPart(email))):
		v.Add("password", "must not be the email address or its part before the @")
	}
}

func localPart(email string) string {
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		return email[:at]
	}
	return email
}

func (v *validator) name(s string) string { return v.Line("name", s, MaxNameLen) }

// maxRefreshTokenBytes bounds a presented refresh token; a real one has 43
// bytes, but clients that mix up their tokens send an access token (which is
// refused as unknown, not as malformed).
const maxRefreshTokenBytes = 8 << 10

// checkRefreshToken vets a presented refresh token before it is looked at:
// empty, overlong and non-text tokens are Invalid (400). A token that is
// text but not one the service could have issued is left to the caller.
func checkRefreshToken(token string) error {
	var v validator
	if token == "" {
		v.Add("refresh_token", "must not be empty")
	} else if v.text("refresh_token", token, maxRefreshTokenBytes) && strings.ContainsFunc(token, unicode.IsControl) {
		v.Add("refresh_token", "must not contain control characters")
	}
	return v.Err()
}
