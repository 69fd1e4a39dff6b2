package web

import (
	"net/http"
	"time"

	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
)

// Waiting for the payment, the order page reloads itself this often, for
// at most pollFor after the order was placed: a plain meta refresh, so it
// works without JavaScript.
const (
	pollEvery = 2
	pollFor   = 2 * time.Minute
)

func statusName(o *orderv1.Order) string {
	switch o.GetStatus() {
	case orderv1.OrderStatus_ORDER_STATUS_PENDING:
		return "pending"
	case orderv1.OrderStatus_ORDER_STATUS_CONFIRMED:
		return "confirmed"
	case orderv1.OrderStatus_ORDER_STATUS_REJECTED:
		return "rejected"
	case orderv1.OrderStatus_ORDER_STATUS_FAILED:
		return "failed"
	case orderv1.OrderStatus_ORDER_STATUS_CANCELLED:
		return "cancelled"
	case orderv1.OrderStatus_ORDER_STATUS_PAID:
		return "paid"
	}
	return "unknown"
}

func statusText(o *orderv1.Order) string {
	switch statusName(o) {
	case "pending":
		return "Placed"
	case "confirmed":
		return "Confirmed, awaiting payment"
	case "rejected":
		return "Rejected: out of stock"
	case "failed":
		return "Failed"
	case "cancelled":
		if declined(o) {
			return "Cancelled: payment declined"
		}
		return "Cancelled"
	case "paid":
		return "Paid"
	}
	return "Unknown"
}

func declined(o *orderv1.Order) bool {
	return o.GetStatus() == orderv1.OrderStatus_ORDER_STATUS_CANCELLED && o.GetCancelReason() == "payment_declined"
}

// step is one stage of the order's timeline.
type step struct{ Label, Class, At string }

// timeline lays out the stages an order goes through and how far it got:
// placed, confirmed (stock reserved), then paid, or where it stopped.
func timeline(o *orderv1.Order) []step {
	placed := step{Label: "Placed", Class: "done", At: when(o.GetCreatedAt())}
	last := when(o.GetUpdatedAt())
	switch statusName(o) {
	case "pending":
		placed.Class += " current"
		return []step{placed, {Label: "Confirmed"}, {Label: "Paid"}}
	case "confirmed":
		return []step{placed, {Label: "Confirmed", Class: "done current", At: last}, {Label: "Paid"}}
	case "paid":
		return []step{placed, {Label: "Confirmed", Class: "done"}, {Label: "Paid", Class: "done current", At: last}}
	case "rejected":
		return []step{placed, {Label: "Rejected: out of stock", Class: "failed current", At: last}}
	case "failed":
		return []step{placed, {Label: "Failed", Class: "failed current", At: last}}
	case "cancelled":
		if declined(o) {
			return []step{placed, {Label: "Confirmed", Class: "done"}, {Label: "Payment declined, cancelled", Class: "failed current", At: last}}
		}
		return []step{placed, {Label: "Confirmed", Class: "done"}, {Label: "Cancelled", Class: "failed current", At: last}}
	}
	return []step{placed}
}

func (s *Server) orders(w http.ResponseWriter, r *http.Request) {
	resp, err := s.shop.ListOrders(r.Context(), r.URL.Query().Get("page"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "orders", page{Title: "Your orders", Data: map[string]any{
		"Orders": resp.GetOrders(), "Next": resp.GetNextPageToken(),
	}})
}

func (s *Server) order(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		s.notFound(w, r)
		return
	}
	o, err := s.shop.Order(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderOrder(w, r, o)
}

func (s *Server) renderOrder(w http.ResponseWriter, r *http.Request, o *orderv1.Order) {
	p := page{Title: "Order " + o.GetId()[:8], Data: map[string]any{
		"Order": o, "Timeline": timeline(o), "Declined": declined(o),
		"Cancellable": o.GetStatus() == orderv1.OrderStatus_ORDER_STATUS_PENDING ||
			o.GetStatus() == orderv1.OrderStatus_ORDER_STATUS_CONFIRMED || o.GetStatus() == orderv1.OrderStatus_ORDER_STATUS_PAID,
	}}
	waiting := o.GetStatus() == orderv1.OrderStatus_ORDER_STATUS_PENDING || o.GetStatus() == orderv1.OrderStatus_ORDER_STATUS_CONFIRMED
	if waiting && time.Since(o.GetCreatedAt().AsTime()) < pollFor {
		p.Refresh = pollEvery
	}
	s.render(w, r, http.StatusOK, "order", p)
}

func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		s.notFound(w, r)
		return
	}
	if _, err := s.shop.CancelOrder(r.Context(), id); err != nil {
		o, getErr := s.shop.Order(r.Context(), id)
		if getErr != nil {
			s.fail(w, r, err)
			return
		}
		p := page{Title: "Order " + id[:8], Notice: "The order could not be cancelled: " + formMessage(err), NoticeKind: "bad",
			Data: map[string]any{"Order": o, "Timeline": timeline(o), "Declined": declined(o)}}
		s.render(w, r, http.StatusConflict, "order", p)
		return
	}
	http.Redirect(w, r, "/orders/"+id+"?m=cancelled", http.StatusSeeOther)
}

func (s *Server) notifications(w http.ResponseWriter, r *http.Request) {
	resp, err := s.shop.ListNotifications(r.Context(), 50)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "notifications", page{Title: "Notifications", Unread: resp.GetUnreadCount(),
		Data: map[string]any{"Notifications": resp.GetNotifications()}})
}

func (s *Server) markRead(w http.ResponseWriter, r *http.Request) {
	if err := s.shop.MarkAllRead(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/notifications", http.StatusSeeOther)
}
