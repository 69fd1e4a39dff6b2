package breaker

import (
	"time"

	"github.com/kitshop/kitshop/kit/liveconfig"
)

// Live are the live settings (kit/liveconfig) of a breaker or a family of
// breakers: its thresholds, sleep window and timeout, under keys that
// start with a prefix such as "breaker-" or "product-breaker-".
// MaxConcurrent is not live.
type Live struct {
	ErrorPercent    liveconfig.Def[int]
	VolumeThreshold liveconfig.Def[int]
	SleepWindow     liveconfig.Def[time.Duration]
	Timeout         liveconfig.Def[time.Duration]
}

// LiveSettings declares the live settings of a breaker under prefix.
func LiveSettings(prefix string) Live {
	return Live{
		ErrorPercent:    liveconfig.Int(prefix+"error-percent", "percentage of failed calls in the rolling 10s window that opens the circuit", 1, 100),
		VolumeThreshold: liveconfig.Int(prefix+"volume-threshold", "calls in the window before the error rate can open the circuit", 1, 1_000_000),
		SleepWindow:     liveconfig.Duration(prefix+"sleep-window", "how long an open circuit rejects calls before it lets one through", 10*time.Millisecond, 10*time.Minute),
		Timeout:         liveconfig.Duration(prefix+"timeout", "the breaker's own limit on one call", time.Millisecond, 10*time.Minute),
	}
}

// Checkers are the settings, for a liveconfig.Schema.
func (l Live) Checkers() []liveconfig.Checker {
	return []liveconfig.Checker{l.ErrorPercent, l.VolumeThreshold, l.SleepWindow, l.Timeout}
}

// Bind binds the settings on s, with defaults (zero fields take the
// package defaults), and calls apply with the whole Settings now and after
// every change.
func (l Live) Bind(s *liveconfig.Store, defaults Settings, apply func(Settings)) {
	d := defaults.withDefaults()
	pct := liveconfig.Bind(s, l.ErrorPercent, d.ErrorPercent)
	vol := liveconfig.Bind(s, l.VolumeThreshold, d.VolumeThreshold)
	sleep := liveconfig.Bind(s, l.SleepWindow, d.SleepWindow)
	timeout := liveconfig.Bind(s, l.Timeout, d.Timeout)
	current := func() Settings {
		return Settings{Timeout: timeout.Get(), MaxConcurrent: d.MaxConcurrent, VolumeThreshold: vol.Get(), ErrorPercent: pct.Get(), SleepWindow: sleep.Get()}
	}
	pct.OnChange(func(int) { apply(current()) })
	vol.OnChange(func(int) { apply(current()) })
	sleep.OnChange(func(time.Duration) { apply(current()) })
	timeout.OnChange(func(time.Duration) { apply(current()) })
}
