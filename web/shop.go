package web

import (
	"context"

	"google.golang.org/grpc"

	notificationv1 "github.com/kitshop/kitshop/proto/notification/v1"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// Shop is the storefront's view of the services behind it: the catalog,
// orders and notifications over gRPC, accounts over the user service's
// HTTP API (it has no gRPC for them). Every call carries the shopper's
// token from the context, if any.
type Shop struct {
	Products      *Backend
	Orders        *Backend
	Notifications *Backend
	Accounts      *Accounts
}

// ListProducts returns one page of the catalog.
func (s *Shop) ListProducts(ctx context.Context, req *productv1.ListProductsRequest) (*productv1.ListProductsResponse, error) {
	return invoke(ctx, s.Products, func(ctx context.Context, cc grpc.ClientConnInterface) (*productv1.ListProductsResponse, error) {
		return productv1.NewProductServiceClient(cc).ListProducts(ctx, req)
	})
}

// Product returns one product.
func (s *Shop) Product(ctx context.Context, id string) (*productv1.Product, error) {
	resp, err := invoke(ctx, s.Products, func(ctx context.Context, cc grpc.ClientConnInterface) (*productv1.GetProductResponse, error) {
		return productv1.NewProductServiceClient(cc).GetProduct(ctx, &productv1.GetProductRequest{Id: id})
	})
	return resp.GetProduct(), err
}

// CreateProduct adds a product (admins).
func (s *Shop) CreateProduct(ctx context.Context, req *productv1.CreateProductRequest) (*productv1.Product, error) {
	resp, err := invoke(ctx, s.Products, func(ctx context.Context, cc grpc.ClientConnInterface) (*productv1.CreateProductResponse, error) {
		return productv1.NewProductServiceClient(cc).CreateProduct(ctx, req)
	})
	return resp.GetProduct(), err
}

// UpdateProduct changes a product (admins).
func (s *Shop) UpdateProduct(ctx context.Context, req *productv1.UpdateProductRequest) (*productv1.Product, error) {
	resp, err := invoke(ctx, s.Products, func(ctx context.Context, cc grpc.ClientConnInterface) (*productv1.UpdateProductResponse, error) {
		return productv1.NewProductServiceClient(cc).UpdateProduct(ctx, req)
	})
	return resp.GetProduct(), err
}

// DeleteProduct removes a product (admins).
func (s *Shop) DeleteProduct(ctx context.Context, id string) error {
	_, err := invoke(ctx, s.Products, func(ctx context.Context, cc grpc.ClientConnInterface) (*productv1.DeleteProductResponse, error) {
		return productv1.NewProductServiceClient(cc).DeleteProduct(ctx, &productv1.DeleteProductRequest{Id: id})
	})
	return err
}

// PlaceOrder places the shopper's order; key makes a repeat return the
// same order.
func (s *Shop) PlaceOrder(ctx context.Context, lines []Line, key, paymentMethod string) (*orderv1.Order, error) {
	req := &orderv1.CreateOrderRequest{IdempotencyKey: key, PaymentMethod: paymentMethod}
	for _, l := range lines {
		req.Items = append(req.Items, &orderv1.LineRequest{ProductId: l.ProductID, Quantity: int64(l.Quantity)})
	}
	resp, err := invoke(ctx, s.Orders, func(ctx context.Context, cc grpc.ClientConnInterface) (*orderv1.CreateOrderResponse, error) {
		return orderv1.NewOrderServiceClient(cc).CreateOrder(ctx, req)
	})
	return resp.GetOrder(), err
}

// Order returns one of the shopper's orders.
func (s *Shop) Order(ctx context.Context, id string) (*orderv1.Order, error) {
	resp, err := invoke(ctx, s.Orders, func(ctx context.Context, cc grpc.ClientConnInterface) (*orderv1.GetOrderResponse, error) {
		return orderv1.NewOrderServiceClient(cc).GetOrder(ctx, &orderv1.GetOrderRequest{Id: id})
	})
	return resp.GetOrder(), err
}

// ListOrders returns a page of the shopper's orders, newest first.
func (s *Shop) ListOrders(ctx context.Context, pageToken string) (*orderv1.ListOrdersResponse, error) {
	return invoke(ctx, s.Orders, func(ctx context.Context, cc grpc.ClientConnInterface) (*orderv1.ListOrdersResponse, error) {
		return orderv1.NewOrderServiceClient(cc).ListOrders(ctx, &orderv1.ListOrdersRequest{Limit: 20, PageToken: pageToken})
	})
}

// CancelOrder cancels one of the shopper's orders.
func (s *Shop) CancelOrder(ctx context.Context, id string) (*orderv1.Order, error) {
	resp, err := invoke(ctx, s.Orders, func(ctx context.Context, cc grpc.ClientConnInterface) (*orderv1.CancelOrderResponse, error) {
		return orderv1.NewOrderServiceClient(cc).CancelOrder(ctx, &orderv1.CancelOrderRequest{Id: id})
	})
	return resp.GetOrder(), err
}

// ListNotifications returns the shopper's newest notifications and the
// unread count.
func (s *Shop) ListNotifications(ctx context.Context, limit int32) (*notificationv1.ListNotificationsResponse, error) {
	return invoke(ctx, s.Notifications, func(ctx context.Context, cc grpc.ClientConnInterface) (*notificationv1.ListNotificationsResponse, error) {
		return notificationv1.NewNotificationServiceClient(cc).ListNotifications(ctx, &notificationv1.ListNotificationsRequest{Limit: limit})
	})
}

// MarkAllRead marks every notification of the shopper read.
func (s *Shop) MarkAllRead(ctx context.Context) error {
	_, err := invoke(ctx, s.Notifications, func(ctx context.Context, cc grpc.ClientConnInterface) (*notificationv1.MarkAllReadResponse, error) {
		return notificationv1.NewNotificationServiceClient(cc).MarkAllRead(ctx, &notificationv1.MarkAllReadRequest{})
	})
	return err
}
