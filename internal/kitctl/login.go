package kitctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitshop/kitshop/kit/errs"
)

// loginPath is the gateway's login route (the user service's).
const loginPath = "/api/v1/auth/login"

func loginCmd(g *globals) *cobra.Command {
	var email string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in through the gateway and keep the access token for kitctl call",
		Long: `Log in with an email and a password (read from standard input with
--password-stdin, else from KITCTL_PASSWORD) and store the access token, readable
by you only (0600), in $KITCTL_CONFIG_DIR/token or your configuration directory's
kitctl/token. With --token, store that token instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token := g.token
			if token == "" {
				if email == "" {
					return errors.New("--email is required (or --token to store a token)")
				}
				password := g.env.Getenv("KITCTL_PASSWORD")
				if passwordStdin {
					b, err := readAll(g.env.Stdin)
					if err != nil {
						return err
					}
					password = strings.TrimRight(b, "\r\n")
				}
				if password == "" {
					return errors.New("no password: pass it on standard input with --password-stdin, or in KITCTL_PASSWORD")
				}
				ctx, cancel := g.ctx(cmd)
				defer cancel()
				body, _ := json.Marshal(map[string]string{"email": email, "password": password})
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(g.gateway, "/")+loginPath, bytes.NewReader(body))
				if err != nil {
					return err
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := (&http.Client{Timeout: g.timeout}).Do(req)
				if err != nil {
					return fmt.Errorf("gateway at %s: %w", g.gateway, err)
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				if resp.StatusCode != http.StatusOK {
					return problemError(resp.StatusCode, raw)
				}
				var tokens struct {
					AccessToken string `json:"access_token"`
					ExpiresIn   int    `json:"expires_in"`
				}
				if err := json.Unmarshal(raw, &tokens); err != nil || tokens.AccessToken == "" {
					return fmt.Errorf("unexpected login answer from %s", g.gateway)
				}
				token = tokens.AccessToken
			}
			path, err := g.tokenPath()
			if err != nil {
				return err
			}
			if err := writePrivate(path, token); err != nil {
				return err
			}
			if g.json() {
				return g.emit(map[string]any{"stored": path, "at": time.Now().UTC().Format(time.RFC3339)})
			}
			_, err = fmt.Fprintf(g.env.Stdout, "token stored in %s\n", path)
			return err
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "account email")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

// writePrivate writes s to path, readable and writable by the user only.
func writePrivate(path, s string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(s + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// problemError turns an HTTP problem answer (RFC 9457) into an errs.Error
// with its kind, from the status.
func problemError(status int, body []byte) error {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(body, &p)
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &errs.Error{Kind: errs.KindFromHTTPStatus(status), Message: msg}
}

func readAll(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	return string(b), err
}
