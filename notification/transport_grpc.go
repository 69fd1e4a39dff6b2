package notification

import (
	"context"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"github.com/go-kit/log"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/grpcx"
	notificationv1 "github.com/kitshop/kitshop/proto/notification/v1"
)

// NewGRPCServer serves the endpoints as kitshop.notification.v1.NotificationService.
// The caller's bearer token is read from the "authorization" metadata; the
// access rules are those of the HTTP API (see NewEndpoints). Handlers
// return the service's *errs.Error values unchanged; the server's
// interceptors (kit/grpcx) turn them into gRPC statuses, so the server must
// be built with grpcx.NewServer.
func NewGRPCServer(eps Endpoints, logger log.Logger) notificationv1.NotificationServiceServer {
	opts := grpcx.ServerOptions(logger)
	return &grpcServer{
		list:        grpctransport.NewServer(eps.List, decodeGRPCListRequest, encodeGRPCListResponse, opts...),
		markRead:    grpctransport.NewServer(eps.MarkRead, decodeGRPCMarkReadRequest, encodeGRPCMarkReadResponse, opts...),
		markAllRead: grpctransport.NewServer(eps.MarkAllRead, decodeGRPCMarkAllReadRequest, encodeGRPCMarkAllReadResponse, opts...),
	}
}

type grpcServer struct {
	notificationv1.UnimplementedNotificationServiceServer
	list, markRead, markAllRead grpctransport.Handler
}

func (s *grpcServer) ListNotifications(ctx context.Context, req *notificationv1.ListNotificationsRequest) (*notificationv1.ListNotificationsResponse, error) {
	return grpcx.Serve[*notificationv1.ListNotificationsResponse](ctx, s.list, req)
}

func (s *grpcServer) MarkRead(ctx context.Context, req *notificationv1.MarkReadRequest) (*notificationv1.MarkReadResponse, error) {
	return grpcx.Serve[*notificationv1.MarkReadResponse](ctx, s.markRead, req)
}

func (s *grpcServer) MarkAllRead(ctx context.Context, req *notificationv1.MarkAllReadRequest) (*notificationv1.MarkAllReadResponse, error) {
	return grpcx.Serve[*notificationv1.MarkAllReadResponse](ctx, s.markAllRead, req)
}

func decodeGRPCListRequest(_ context.Context, r any) (any, error) {
	req := r.(*notificationv1.ListNotificationsRequest)
	return ListRequest{Limit: int(req.GetLimit()), PageToken: req.GetPageToken(), UnreadOnly: req.GetUnreadOnly()}, nil
}

func encodeGRPCListResponse(_ context.Context, r any) (any, error) {
	resp := r.(ListResponse)
	out := &notificationv1.ListNotificationsResponse{
		Notifications: make([]*notificationv1.Notification, 0, len(resp.Notifications)),
		UnreadCount:   resp.UnreadCount,
		NextPageToken: resp.NextPageToken,
	}
	for _, n := range resp.Notifications {
		out.Notifications = append(out.Notifications, ToProto(n))
	}
	return out, nil
}

func decodeGRPCMarkReadRequest(_ context.Context, r any) (any, error) {
	return MarkReadRequest{ID: r.(*notificationv1.MarkReadRequest).GetId()}, nil
}

func encodeGRPCMarkReadResponse(_ context.Context, r any) (any, error) {
	return &notificationv1.MarkReadResponse{Notification: ToProto(r.(MarkReadResponse).Notification)}, nil
}

func decodeGRPCMarkAllReadRequest(context.Context, any) (any, error) {
	return MarkAllReadRequest{}, nil
}

func encodeGRPCMarkAllReadResponse(_ context.Context, r any) (any, error) {
	return &notificationv1.MarkAllReadResponse{MarkedRead: r.(MarkAllReadResponse).MarkedRead}, nil
}

// ToProto converts a notification to its protobuf message.
func ToProto(n Notification) *notificationv1.Notification {
	m := &notificationv1.Notification{
		Id:        n.ID,
		Kind:      string(n.Kind),
		Title:     n.Title,
		Body:      n.Body,
		OrderId:   n.OrderID,
		CreatedAt: timestamppb.New(n.CreatedAt),
	}
	if n.Read() {
		m.ReadAt = timestamppb.New(n.ReadAt)
	}
	return m
}
