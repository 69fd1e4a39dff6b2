package notification_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/notification"
	notificationv1 "github.com/kitshop/kitshop/proto/notification/v1"
)

// newGRPCClient serves the real service on a fresh database over a
// loopback listener with the kit's server and client; ada has 3
// notifications, bob 1.
func newGRPCClient(t *testing.T) (notificationv1.NotificationServiceClient, callers) {
	t.Helper()
	who := newCallers(t)
	store, _ := newStore(t)
	h := newHandler(t, store)
	seed(t, h, who.ada, 3)
	seed(t, h, who.bob, 1)
	logger := log.NewNopLogger()
	srv := grpcx.NewServer(logger)
	eps := notification.NewEndpoints(notification.NewService(store), who.signer.Verifier())
	notificationv1.RegisterNotificationServiceServer(srv, notification.NewGRPCServer(eps, logger))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis) // returns when stopped
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	cc, err := grpcx.Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return notificationv1.NewNotificationServiceClient(cc), who
}

// grpcContext returns a context for calls as the caller of token ("" for an
// anonymous one), which travels as "authorization" metadata.
func grpcContext(t *testing.T, token string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, auth.MetadataKey, "Bearer "+token)
	}
	return ctx
}

func TestGRPC(t *testing.T) {
	client, who := newGRPCClient(t)
	ada := grpcContext(t, who.customer)

	first, err := client.ListNotifications(ada, &notificationv1.ListNotificationsRequest{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.GetNotifications()) != 2 || first.GetUnreadCount() != 3 || first.GetNextPageToken() == "" {
		t.Fatalf("first page = %v", first)
	}
	n := first.GetNotifications()[0]
	if n.GetKind() != string(notification.KindOrderPaid) || n.GetOrderId() == "" || n.GetReadAt() != nil || n.GetCreatedAt() == nil {
		t.Errorf("notification = %v", n)
	}
	rest, err := client.ListNotifications(ada, &notificationv1.ListNotificationsRequest{Limit: 2, PageToken: first.GetNextPageToken()})
	if err != nil || len(rest.GetNotifications()) != 1 || rest.GetNextPageToken() != "" {
		t.Fatalf("second page = %v, %v", rest, err)
	}

	read, err := client.MarkRead(ada, &notificationv1.MarkReadRequest{Id: n.GetId()})
	if err != nil || read.GetNotification().GetReadAt() == nil {
		t.Fatalf("MarkRead = %v, %v", read, err)
	}
	unread, err := client.ListNotifications(ada, &notificationv1.ListNotificationsRequest{UnreadOnly: true})
	if err != nil || len(unread.GetNotifications()) != 2 || unread.GetUnreadCount() != 2 {
		t.Errorf("unread = %v, %v", unread, err)
	}
	all, err := client.MarkAllRead(ada, &notificationv1.MarkAllReadRequest{})
	if err != nil || all.GetMarkedRead() != 2 {
		t.Errorf("MarkAllRead = %v, %v", all, err)
	}

	bobs, err := client.ListNotifications(grpcContext(t, who.otherUser), &notificationv1.ListNotificationsRequest{})
	if err != nil || len(bobs.GetNotifications()) != 1 {
		t.Fatalf("bob's = %v, %v", bobs, err)
	}
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"anonymous", func() error {
			_, err := client.ListNotifications(grpcContext(t, ""), &notificationv1.ListNotificationsRequest{})
			return err
		}, codes.Unauthenticated},
		{"service account", func() error {
			_, err := client.MarkAllRead(grpcContext(t, who.serviceAccount), &notificationv1.MarkAllReadRequest{})
			return err
		}, codes.PermissionDenied},
		{"bad limit", func() error {
			_, err := client.ListNotifications(ada, &notificationv1.ListNotificationsRequest{Limit: 500})
			return err
		}, codes.InvalidArgument},
		{"malformed id", func() error {
			_, err := client.MarkRead(ada, &notificationv1.MarkReadRequest{Id: "42"})
			return err
		}, codes.InvalidArgument},
		{"another user's", func() error {
			_, err := client.MarkRead(ada, &notificationv1.MarkReadRequest{Id: bobs.GetNotifications()[0].GetId()})
			return err
		}, codes.NotFound},
		{"unknown", func() error {
			_, err := client.MarkRead(ada, &notificationv1.MarkReadRequest{Id: uuid.NewString()})
			return err
		}, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status.Code(tt.call()); got != tt.want {
				t.Errorf("code = %v, want %v", got, tt.want)
			}
		})
	}
}
