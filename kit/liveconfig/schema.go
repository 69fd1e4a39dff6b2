package liveconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Def declares one live setting: its key under the service's prefix, what
// it is for, and how a value is parsed and checked. A Def holds no value; a
// service binds it to one with Bind, and kitctl checks a value against the
// same Def before it writes it.
type Def[T any] struct {
	key, doc string
	parse    func(string) (T, error)
	format   func(T) string
}

// Key is the setting's key under kitshop/config/<service>/.
func (d Def[T]) Key() string { return d.key }

// Doc says what the setting does and which values it takes.
func (d Def[T]) Doc() string { return d.doc }

// Parse turns a stored value into a T, or says why it is not a valid one.
func (d Def[T]) Parse(raw string) (T, error) {
	v, err := d.parse(strings.TrimSpace(raw))
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", d.key, err)
	}
	return v, nil
}

// Check reports why raw is not a valid value, or nil.
func (d Def[T]) Check(raw string) error {
	_, err := d.Parse(raw)
	return err
}

// Format renders a value the way Parse reads it back.
func (d Def[T]) Format(v T) string { return d.format(v) }

// Checker is what every Def is to a schema: a key, its documentation and a
// validator. kitctl sees settings only through it.
type Checker interface {
	Key() string
	Doc() string
	Check(raw string) error
}

// keyPattern is what a setting key may look like: lower-case words separated
// by dashes, in slash-separated segments (feature/new-checkout).
var keyPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*(/[a-z0-9]+(-[a-z0-9]+)*)*$`)

func newDef[T any](key, doc string, parse func(string) (T, error), format func(T) string) Def[T] {
	if !keyPattern.MatchString(key) {
		panic(fmt.Sprintf("liveconfig: invalid key %q", key))
	}
	return Def[T]{key: key, doc: doc, parse: parse, format: format}
}

// Int declares an integer setting in [lo, hi].
func Int(key, doc string, lo, hi int) Def[int] {
	return newDef(key, doc, func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", s)
		}
		if n < lo || n > hi {
			return 0, fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
		}
		return n, nil
	}, strconv.Itoa)
}

// Float declares a finite number in [lo, hi].
func Float(key, doc string, lo, hi float64) Def[float64] {
	return newDef(key, doc, func(s string) (float64, error) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		if f < lo || f > hi {
			return 0, fmt.Errorf("%v is out of range [%v, %v]", f, lo, hi)
		}
		return f, nil
	}, func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) })
}

// Duration declares a Go duration ("250ms", "5s") in [lo, hi].
func Duration(key, doc string, lo, hi time.Duration) Def[time.Duration] {
	return newDef(key, doc, func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 500ms or 5s", s)
		}
		if d < lo || d > hi {
			return 0, fmt.Errorf("%v is out of range [%v, %v]", d, lo, hi)
		}
		return d, nil
	}, time.Duration.String)
}

// Bool declares true or false (strconv.ParseBool's spellings).
func Bool(key, doc string) Def[bool] {
	return newDef(key, doc, func(s string) (bool, error) {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	}, strconv.FormatBool)
}

// Enum declares one of a fixed set of words.
func Enum(key, doc string, values ...string) Def[string] {
	return newDef(key, doc, func(s string) (string, error) {
		if !slices.Contains(values, s) {
			return "", fmt.Errorf("%q is not one of %s", s, strings.Join(values, ", "))
		}
		return s, nil
	}, func(s string) string { return s })
}

// JSON declares a JSON document decoded into T: strictly (an unknown field,
// trailing data or a wrong type is refused), then checked by check when it
// is not nil.
func JSON[T any](key, doc string, check func(T) error) Def[T] {
	return newDef(key, doc, func(s string) (T, error) {
		var v T
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return v, fmt.Errorf("not a valid JSON document: %w", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return v, errors.New("not a valid JSON document: data after the value")
		}
		if check != nil {
			if err := check(v); err != nil {
				return v, err
			}
		}
		return v, nil
	}, func(v T) string {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprintf("%v", v)
		}
		return string(bytes.TrimSpace(b))
	})
}

// FeaturePrefix starts the key of every feature flag: feature/<name>.
const FeaturePrefix = "feature/"

// Feature declares the feature flag name, read through Flags.
func Feature(name, doc string) Def[bool] { return Bool(FeaturePrefix+name, doc) }

// Schema is the set of live settings of one service. The services bind
// values to its Defs; kitctl checks what it writes against it.
type Schema struct {
	service string
	defs    []Checker
}

// NewSchema returns the schema of service. It panics on a duplicate key,
// which is a programming error.
func NewSchema(service string, defs ...Checker) Schema {
	s := Schema{service: service}
	return s.With(defs...)
}

// With returns the schema with defs added.
func (s Schema) With(defs ...Checker) Schema {
	out := Schema{service: s.service, defs: slices.Clone(s.defs)}
	for _, d := range defs {
		if _, ok := out.Lookup(d.Key()); ok {
			panic(fmt.Sprintf("liveconfig: %s: duplicate key %q", s.service, d.Key()))
		}
		out.defs = append(out.defs, d)
	}
	slices.SortFunc(out.defs, func(a, b Checker) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// Service is the service the schema belongs to.
func (s Schema) Service() string { return s.service }

// Settings lists the declared settings sorted by key.
func (s Schema) Settings() []Checker { return slices.Clone(s.defs) }

// Lookup returns the setting with key.
func (s Schema) Lookup(key string) (Checker, bool) {
	for _, d := range s.defs {
		if d.Key() == key {
			return d, true
		}
	}
	return nil, false
}

// ErrUnknownKey is returned by Check for a key the schema does not declare.
var ErrUnknownKey = errors.New("unknown setting")

// Check reports why raw is not a valid value of key. Any feature/<name> is
// a valid key for a true or false value, so a flag can be switched before
// the code that reads it is deployed.
func (s Schema) Check(key, raw string) error {
	if d, ok := s.Lookup(key); ok {
		return d.Check(raw)
	}
	if name, ok := strings.CutPrefix(key, FeaturePrefix); ok && keyPattern.MatchString(key) && !strings.Contains(name, "/") {
		return Feature(name, "").Check(raw)
	}
	return fmt.Errorf("%s: %w of %s", key, ErrUnknownKey, s.service)
}
