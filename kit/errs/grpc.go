package errs

import (
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ToGRPC converts err into a gRPC status error carrying the kind's code, the
// client-safe message, field violations (BadRequest) and the retry hint
// (RetryInfo). It is what a gRPC server returns; the cause stays behind.
// Errors that already are gRPC statuses pass through unchanged.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !isKitError(err) {
		return err
	}
	kind := KindOf(err)
	st := status.New(GRPCCode(kind), Message(err))
	var details []protoadapt.MessageV1
	if fields := FieldsOf(err); len(fields) > 0 && kind != Internal {
		br := &errdetails.BadRequest{}
		for _, f := range fields {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f.Field, Description: f.Message})
		}
		details = append(details, br)
	}
	if d := RetryAfterOf(err); d > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	}
	if len(details) > 0 {
		if withDetails, derr := st.WithDetails(details...); derr == nil {
			st = withDetails
		}
	}
	return st.Err()
}

// FromGRPC converts an error returned by a gRPC client call back into an
// *Error of the same kind, with message, fields and retry hint restored. Errors
// that are not gRPC statuses are returned unchanged.
func FromGRPC(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if st.Code() == codes.OK {
		return nil
	}
	e := &Error{Kind: KindFromGRPCCode(st.Code()), Message: st.Message(), Err: err}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Fields = append(e.Fields, FieldError{Field: v.GetField(), Message: v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			e.RetryAfter = d.GetRetryDelay().AsDuration()
		}
	}
	if e.Kind == Internal {
		// Never relay another service's internal message as our own.
		e.Message = ""
	}
	if e.Kind == Unavailable && e.RetryAfter == 0 && st.Code() == codes.DeadlineExceeded {
		e.RetryAfter = time.Second
	}
	return e
}

func isKitError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
