package endpointx_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kitshop/kitshop/kit/endpointx"
	"github.com/kitshop/kitshop/kit/errs"
)

type greetRequest struct{ Name string }
type greetResponse struct{ Text string }

func TestTyped(t *testing.T) {
	boom := errs.New(errs.NotFound, "no such name")
	ep := endpointx.Typed("Greet", func(_ context.Context, r greetRequest) (greetResponse, error) {
		if r.Name == "" {
			return greetResponse{Text: "half-built"}, boom
		}
		return greetResponse{Text: "hello " + r.Name}, nil
	})
	tests := []struct {
		name     string
		req      any
		want     any
		wantErr  bool
		wantKind errs.Kind
	}{
		{"typed request", greetRequest{Name: "ada"}, greetResponse{Text: "hello ada"}, false, 0},
		{"service error drops the response", greetRequest{}, nil, true, errs.NotFound},
		{"wrong request type is a wiring bug", "ada", nil, true, errs.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ep(context.Background(), tt.req)
			if got != tt.want {
				t.Errorf("response = %#v, want %#v", got, tt.want)
			}
			if (err != nil) != tt.wantErr || tt.wantErr && errs.KindOf(err) != tt.wantKind {
				t.Errorf("err = %v, want kind %q", err, tt.wantKind)
			}
			if tt.wantKind == errs.NotFound && !errors.Is(err, boom) {
				t.Errorf("err = %v, want the service's own error", err)
			}
		})
	}
}
