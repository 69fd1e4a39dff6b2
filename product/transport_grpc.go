package product

import (
	"context"

	"github.com/kitshop/kitshop/kit/grpcx"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"github.com/go-kit/log"
	"google.golang.org/protobuf/types/known/timestamppb"

	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// NewGRPCServer serves the endpoints as kitshop.product.v1.ProductService.
// Handlers return the service's *errs.Error values unchanged; the server's
// interceptors (kit/grpcx) turn them into gRPC statuses, so the server must
// be built with grpcx.NewServer.
//
// The write methods need an admin's access token in the "authorization"
// metadata ("Bearer <token>"), exactly as over HTTP: without a valid one they
// fail with codes.Unauthenticated, for other roles with
// codes.PermissionDenied. gRPC calls never pass the gateway, so this check
// (in the endpoints, see NewEndpoints) is the only one they meet.
//
// The stock methods (BatchGetProducts, ReserveStock, ReleaseStock) are served
// when WithStock is given, and answer codes.Unimplemented otherwise.
func NewGRPCServer(eps Endpoints, logger log.Logger, options ...GRPCOption) productv1.ProductServiceServer {
	opts := grpcx.ServerOptions(logger)
	s := &grpcServer{
		list:   grpctransport.NewServer(eps.List, decodeGRPCListRequest, encodeGRPCListResponse, opts...),
		get:    grpctransport.NewServer(eps.Get, decodeGRPCGetRequest, encodeGRPCGetResponse, opts...),
		create: grpctransport.NewServer(eps.Create, decodeGRPCCreateRequest, encodeGRPCCreateResponse, opts...),
		update: grpctransport.NewServer(eps.Update, decodeGRPCUpdateRequest, encodeGRPCUpdateResponse, opts...),
		delete: grpctransport.NewServer(eps.Delete, decodeGRPCDeleteRequest, encodeGRPCDeleteResponse, opts...),
	}
	var cfg grpcConfig
	for _, o := range options {
		o(&cfg)
	}
	if st := cfg.stock; st != nil {
		s.batchGet = grpctransport.NewServer(st.BatchGet, decodeGRPCBatchGetRequest, encodeGRPCBatchGetResponse, opts...)
		s.reserve = grpctransport.NewServer(st.Reserve, decodeGRPCReserveRequest, encodeGRPCReserveResponse, opts...)
		s.release = grpctransport.NewServer(st.Release, decodeGRPCReleaseRequest, encodeGRPCReleaseResponse, opts...)
	}
	return s
}

// GRPCOption configures NewGRPCServer.
type GRPCOption func(*grpcConfig)

type grpcConfig struct {
	stock *StockEndpoints
}

// WithStock serves the stock API (BatchGetProducts, ReserveStock,
// ReleaseStock) from eps; see NewStockEndpoints for who may call it.
func WithStock(eps StockEndpoints) GRPCOption {
	return func(c *grpcConfig) { c.stock = &eps }
}

type grpcServer struct {
	productv1.UnimplementedProductServiceServer
	list, get, create, update, delete grpctransport.Handler
	batchGet, reserve, release        grpctransport.Handler // nil without WithStock
}

func (s *grpcServer) ListProducts(ctx context.Context, req *productv1.ListProductsRequest) (*productv1.ListProductsResponse, error) {
	return grpcx.Serve[*productv1.ListProductsResponse](ctx, s.list, req)
}

func (s *grpcServer) GetProduct(ctx context.Context, req *productv1.GetProductRequest) (*productv1.GetProductResponse, error) {
	return grpcx.Serve[*productv1.GetProductResponse](ctx, s.get, req)
}

func (s *grpcServer) CreateProduct(ctx context.Context, req *productv1.CreateProductRequest) (*productv1.CreateProductResponse, error) {
	return grpcx.Serve[*productv1.CreateProductResponse](ctx, s.create, req)
}

func (s *grpcServer) UpdateProduct(ctx context.Context, req *productv1.UpdateProductRequest) (*productv1.UpdateProductResponse, error) {
	return grpcx.Serve[*productv1.UpdateProductResponse](ctx, s.update, req)
}

func (s *grpcServer) DeleteProduct(ctx context.Context, req *productv1.DeleteProductRequest) (*productv1.DeleteProductResponse, error) {
	return grpcx.Serve[*productv1.DeleteProductResponse](ctx, s.delete, req)
}

func decodeGRPCListRequest(_ context.Context, r any) (any, error) {
	req := r.(*productv1.ListProductsRequest)
	return ListRequest{Limit: int(req.GetLimit()), PageToken: req.GetPageToken(), Q: req.GetQ()}, nil
}

func encodeGRPCListResponse(_ context.Context, r any) (any, error) {
	resp := r.(ListResponse)
	out := &productv1.ListProductsResponse{
		Products:      make([]*productv1.Product, 0, len(resp.Products)),
		NextPageToken: resp.NextPageToken,
	}
	for _, p := range resp.Products {
		out.Products = append(out.Products, ToProto(p))
	}
	return out, nil
}

func decodeGRPCGetRequest(_ context.Context, r any) (any, error) {
	return GetRequest{ID: r.(*productv1.GetProductRequest).GetId()}, nil
}

func encodeGRPCGetResponse(_ context.Context, r any) (any, error) {
	return &productv1.GetProductResponse{Product: ToProto(r.(GetResponse).Product)}, nil
}

func decodeGRPCCreateRequest(_ context.Context, r any) (any, error) {
	req := r.(*productv1.CreateProductRequest)
	return CreateRequest{Product: NewProduct{
		SKU:         req.GetSku(),
		Name:        req.GetName(),
		Description: req.GetDescription(),
		PriceMinor:  req.GetPriceMinor(),
		Currency:    req.GetCurrency(),
		Stock:       req.GetStock(),
	}}, nil
}

func encodeGRPCCreateResponse(_ context.Context, r any) (any, error) {
	return &productv1.CreateProductResponse{Product: ToProto(r.(CreateResponse).Product)}, nil
}

func decodeGRPCUpdateRequest(_ context.Context, r any) (any, error) {
	req := r.(*productv1.UpdateProductRequest)
	// proto3 optional fields are pointers: nil means "leave unchanged",
	// exactly Patch's convention. Copy them so the service never aliases
	// the message.
	return UpdateRequest{ID: req.GetId(), Patch: Patch{
		SKU:         clone(req.Sku),
		Name:        clone(req.Name),
		Description: clone(req.Description),
		PriceMinor:  clone(req.PriceMinor),
		Currency:    clone(req.Currency),
		Stock:       clone(req.Stock),
	}}, nil
}

func encodeGRPCUpdateResponse(_ context.Context, r any) (any, error) {
	return &productv1.UpdateProductResponse{Product: ToProto(r.(UpdateResponse).Product)}, nil
}

func decodeGRPCDeleteRequest(_ context.Context, r any) (any, error) {
	return DeleteRequest{ID: r.(*productv1.DeleteProductRequest).GetId()}, nil
}

func encodeGRPCDeleteResponse(_ context.Context, _ any) (any, error) {
	return &productv1.DeleteProductResponse{}, nil
}

// ToProto converts a product to its protobuf message.
func ToProto(p Product) *productv1.Product {
	return &productv1.Product{
		Id:          p.ID,
		Sku:         p.SKU,
		Name:        p.Name,
		Description: p.Description,
		PriceMinor:  p.PriceMinor,
		Currency:    p.Currency,
		Stock:       p.Stock,
		CreatedAt:   timestamppb.New(p.CreatedAt),
		UpdatedAt:   timestamppb.New(p.UpdatedAt),
	}
}

// FromProto converts a protobuf product back, for gRPC clients. Missing
// timestamps become the zero time.
func FromProto(m *productv1.Product) Product {
	p := Product{
		ID:          m.GetId(),
		SKU:         m.GetSku(),
		Name:        m.GetName(),
		Description: m.GetDescription(),
		PriceMinor:  m.GetPriceMinor(),
		Currency:    m.GetCurrency(),
		Stock:       m.GetStock(),
	}
	if m.GetCreatedAt() != nil {
		p.CreatedAt = m.GetCreatedAt().AsTime()
	}
	if m.GetUpdatedAt() != nil {
		p.UpdatedAt = m.GetUpdatedAt().AsTime()
	}
	return p
}

func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func (s *grpcServer) BatchGetProducts(ctx context.Context, req *productv1.BatchGetProductsRequest) (*productv1.BatchGetProductsResponse, error) {
	if s.batchGet == nil {
		return s.UnimplementedProductServiceServer.BatchGetProducts(ctx, req)
	}
	return grpcx.Serve[*productv1.BatchGetProductsResponse](ctx, s.batchGet, req)
}

func (s *grpcServer) ReserveStock(ctx context.Context, req *productv1.ReserveStockRequest) (*productv1.ReserveStockResponse, error) {
	if s.reserve == nil {
		return s.UnimplementedProductServiceServer.ReserveStock(ctx, req)
	}
	return grpcx.Serve[*productv1.ReserveStockResponse](ctx, s.reserve, req)
}

func (s *grpcServer) ReleaseStock(ctx context.Context, req *productv1.ReleaseStockRequest) (*productv1.ReleaseStockResponse, error) {
	if s.release == nil {
		return s.UnimplementedProductServiceServer.ReleaseStock(ctx, req)
	}
	return grpcx.Serve[*productv1.ReleaseStockResponse](ctx, s.release, req)
}

func decodeGRPCBatchGetRequest(_ context.Context, r any) (any, error) {
	return BatchGetRequest{IDs: append([]string(nil), r.(*productv1.BatchGetProductsRequest).GetIds()...)}, nil
}

func encodeGRPCBatchGetResponse(_ context.Context, r any) (any, error) {
	resp := r.(BatchGetResponse)
	out := &productv1.BatchGetProductsResponse{Products: make([]*productv1.Product, 0, len(resp.Products))}
	for _, p := range resp.Products {
		out.Products = append(out.Products, ToProto(p))
	}
	return out, nil
}

func decodeGRPCReserveRequest(_ context.Context, r any) (any, error) {
	req := r.(*productv1.ReserveStockRequest)
	items := make([]StockItem, 0, len(req.GetItems()))
	for _, it := range req.GetItems() {
		items = append(items, StockItem{ProductID: it.GetProductId(), Quantity: it.GetQuantity()})
	}
	return ReserveRequest{OrderID: req.GetOrderId(), Items: items}, nil
}

func encodeGRPCReserveResponse(_ context.Context, _ any) (any, error) {
	return &productv1.ReserveStockResponse{}, nil
}

func decodeGRPCReleaseRequest(_ context.Context, r any) (any, error) {
	return ReleaseRequest{OrderID: r.(*productv1.ReleaseStockRequest).GetOrderId()}, nil
}

func encodeGRPCReleaseResponse(_ context.Context, _ any) (any, error) {
	return &productv1.ReleaseStockResponse{}, nil
}
