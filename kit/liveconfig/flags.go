package liveconfig

import "strconv"

// Flags reports whether a feature is switched on. Code that branches on a
// feature takes a Flags, so tests can pass a fixed set.
type Flags interface {
	// Enabled reports whether the feature name is on.
	Enabled(name string) bool
}

// Flag binds the feature flag name (key feature/<name>) with its default,
// for code that wants the Value itself (for OnChange).
func (s *Store) Flag(name, doc string, fallback bool) *Value[bool] {
	v := Bind(s, Feature(name, doc), fallback)
	s.mu.Lock()
	s.flags[name] = v
	s.mu.Unlock()
	return v
}

// Enabled implements Flags: the bound flag's value; for a flag never bound,
// the stored value when it is a valid boolean, else false.
func (s *Store) Enabled(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.flags[name]; ok {
		return v.Get()
	}
	if e, ok := s.entries[FeaturePrefix+name]; ok {
		b, err := strconv.ParseBool(e.Value)
		return err == nil && b
	}
	return false
}

// FixedFlags is a Flags with a fixed set of features on, for tests and for
// processes without Consul.
type FixedFlags map[string]bool

// Enabled implements Flags.
func (f FixedFlags) Enabled(name string) bool { return f[name] }
