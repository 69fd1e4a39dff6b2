package main

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/events"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
	"github.com/kitshop/kitshop/user"
)

// TestRunPublishesRegistrations checks the wiring of the events: the
// instance creates the account service's stream, and its relay publishes
// one user.registered per account created: the admin's at start, and a
// sign-up's, but not a second sign-up with the same email, though it is
// answered alike.
func TestRunPublishesRegistrations(t *testing.T) {
	admin := "root-" + time.Now().Format("150405.000000") + "@example.com"
	ann := "ann-" + time.Now().Format("150405.000000") + "@example.com"
	inst := start(t, "-database-url", testenv.Database(t), "-consul-addr", "",
		"-signing-key-file", filepath.Join(t.TempDir(), "signing.pem"), "-generate-key",
		"-admin-email", admin, "-admin-password", adminPassword)
	base := "http://" + inst.HTTPAddr
	for _, name := range []string{"Ann", "Another Ann"} {
		if status, _ := call(t, http.MethodPost, base+user.UsersPath,
			`{"email":"`+ann+`","password":"`+userPassword+`","name":"`+name+`"}`, "", nil); status != http.StatusAccepted {
			t.Fatalf("sign-up as %s = %d, want 202", name, status)
		}
	}

	_, js := testenv.JetStream(t, testenv.NATS(t).URL())
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := []string{admin + " Administrator", ann + " Ann"}
	var got []string
	for !slices.Equal(got, want) {
		if ctx.Err() != nil {
			t.Fatalf("registrations in the stream: %q, want %q; logs:\n%s", got, want, inst.Logs)
		}
		time.Sleep(50 * time.Millisecond)
		// The stream is the test binary's: other tests' accounts are in it.
		if got, err = registrations(ctx, js, admin, ann); err != nil {
			t.Logf("reading the stream: %v", err)
		}
	}
	// Room for a wrong second event to arrive.
	time.Sleep(300 * time.Millisecond)
	if got, err := registrations(ctx, js, admin, ann); err != nil || !slices.Equal(got, want) {
		t.Errorf("registrations in the stream: %q (%v), want %q", got, err, want)
	}
}

// registrations returns "email name" of the user.registered events of the
// given emails in the account service's stream, in stream order.
func registrations(ctx context.Context, js jetstream.JetStream, emails ...string) ([]string, error) {
	stream, err := js.Stream(ctx, userv1.Stream)
	if err != nil {
		return nil, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			return nil, err
		}
		m, err := events.Unmarshal(msg.Data)
		if err != nil {
			return nil, err
		}
		if r := m.Data.(*userv1.UserRegistered); slices.Contains(emails, r.GetEmail()) {
			out = append(out, r.GetEmail()+" "+r.GetName())
		}
	}
	return out, nil
}
