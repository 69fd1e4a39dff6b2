package errs

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// The two tables below are the only place kinds meet status codes.

var httpStatus = [...]int{
	Internal:        http.StatusInternalServerError,
	Invalid:         http.StatusBadRequest,
	NotFound:        http.StatusNotFound,
	Conflict:        http.StatusConflict,
	Unauthenticated: http.StatusUnauthorized,
	Forbidden:       http.StatusForbidden,
	RateLimited:     http.StatusTooManyRequests,
	Unavailable:     http.StatusServiceUnavailable,
}

var grpcCode = [...]codes.Code{
	Internal:        codes.Internal,
	Invalid:         codes.InvalidArgument,
	NotFound:        codes.NotFound,
	Conflict:        codes.FailedPrecondition,
	Unauthenticated: codes.Unauthenticated,
	Forbidden:       codes.PermissionDenied,
	RateLimited:     codes.ResourceExhausted,
	Unavailable:     codes.Unavailable,
}

// HTTPStatus returns the HTTP status for kind.
func HTTPStatus(kind Kind) int {
	if int(kind) < len(httpStatus) {
		return httpStatus[kind]
	}
	return http.StatusInternalServerError
}

// KindFromHTTPStatus is the inverse of HTTPStatus. Statuses outside the table
// are mapped to the nearest kind (any other 4xx is Invalid, 502 and 504 are
// Unavailable, anything else Internal).
func KindFromHTTPStatus(status int) Kind {
	for k, s := range httpStatus {
		if s == status {
			return Kind(k)
		}
	}
	switch {
	case status == http.StatusBadGateway, status == http.StatusGatewayTimeout:
		return Unavailable
	case status == http.StatusGone:
		return NotFound
	case status == http.StatusPreconditionFailed, status == http.StatusUnprocessableEntity:
		return Conflict
	case status >= 400 && status < 500:
		return Invalid
	}
	return Internal
}

// GRPCCode returns the gRPC code for kind.
func GRPCCode(kind Kind) codes.Code {
	if int(kind) < len(grpcCode) {
		return grpcCode[kind]
	}
	return codes.Internal
}

// KindFromGRPCCode is the inverse of GRPCCode, with the codes outside the table
// mapped to their nearest kind.
func KindFromGRPCCode(code codes.Code) Kind {
	for k, c := range grpcCode {
		if c == code {
			return Kind(k)
		}
	}
	switch code {
	case codes.AlreadyExists, codes.Aborted:
		return Conflict
	case codes.OutOfRange:
		return Invalid
	case codes.DeadlineExceeded, codes.Canceled:
		return Unavailable
	}
	return Internal
}
