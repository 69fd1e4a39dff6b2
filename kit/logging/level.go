package logging

import (
	"fmt"
	"sync/atomic"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Levels are the names a LevelVar accepts, least severe first.
var Levels = []string{"debug", "info", "warn", "error"}

// LevelVar is the minimum level of a process's logs, changeable while it
// runs (kit/liveconfig's log-level). The zero value is debug. It is safe for
// concurrent use.
type LevelVar struct {
	min atomic.Int32 // index in Levels
}

// NewLevelVar returns a LevelVar set to name.
func NewLevelVar(name string) (*LevelVar, error) {
	l := new(LevelVar)
	return l, l.Set(name)
}

// Set changes the minimum level to name, one of Levels.
func (l *LevelVar) Set(name string) error {
	for i, n := range Levels {
		if n == name {
			l.min.Store(int32(i))
			return nil
		}
	}
	return fmt.Errorf("log level %q: want one of debug, info, warn, error", name)
}

// Enabled reports whether a line at v would pass the level in force, so a
// caller can leave out building a line that would be dropped.
func (l *LevelVar) Enabled(v level.Value) bool { return rank(v) >= l.min.Load() }

// String returns the level's name.
func (l *LevelVar) String() string { return Levels[l.min.Load()] }

// Filter returns a logger that drops next's lines below the level in force
// when they are logged. Lines without a level pass.
func (l *LevelVar) Filter(next log.Logger) log.Logger { return &levelFilter{next: next, l: l} }

type levelFilter struct {
	next log.Logger
	l    *LevelVar
}

func (f *levelFilter) Log(keyvals ...any) error {
	min := f.l.min.Load()
	if min == 0 {
		return f.next.Log(keyvals...)
	}
	for i := 0; i+1 < len(keyvals); i += 2 {
		if keyvals[i] != level.Key() {
			continue
		}
		if v, ok := keyvals[i+1].(level.Value); ok && rank(v) < min {
			return nil
		}
		break
	}
	return f.next.Log(keyvals...)
}

func rank(v level.Value) int32 {
	switch v {
	case level.DebugValue():
		return 0
	case level.InfoValue():
		return 1
	case level.WarnValue():
		return 2
	default:
		return 3
	}
}
