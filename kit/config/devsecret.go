package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// RefuseDevSecret returns an error when the setting name holds one of the
// known development values, unless dev is set (DevMode: a stack started
// by deploy/local). A development value is public (it is in the
// README, or was once committed), so a deployment that kept one by accident
// must not start.
//
// value matches when it is one of known, when it is a URL whose password is
// (postgres://kitshop:kitshop@...), or when an entry of a "name:secret,..."
// list (-service-accounts) has such a secret. The error names the setting,
// never the value.
func RefuseDevSecret(name, value string, dev bool, known ...string) error {
	if dev || value == "" {
		return nil
	}
	candidates := []string{value}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			candidates = append(candidates, p)
		}
	} else {
		for _, entry := range strings.Split(value, ",") {
			if _, secret, ok := strings.Cut(strings.TrimSpace(entry), ":"); ok {
				candidates = append(candidates, secret)
			}
		}
	}
	for _, c := range candidates {
		for _, k := range known {
			if c == k {
				return fmt.Errorf("-%s holds a well-known development value; set a secret of your own (or set "+DevEnv+"=1 for a local development stack)", name)
			}
		}
	}
	return nil
}

// DevEnv is the environment variable that marks a process as part of a
// local development stack (deploy/local sets it to 1), where the
// development values RefuseDevSecret refuses are expected.
const DevEnv = "KITSHOP_DEV"

// DevMode reports whether DevEnv is set to 1 or true.
func DevMode() bool {
	v := os.Getenv(DevEnv)
	return v == "1" || strings.EqualFold(v, "true")
}
