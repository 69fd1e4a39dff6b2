package kitctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/subscriber"
)

func eventsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Watch the event broker and handle dead letters"}
	var count int
	tail := &cobra.Command{
		Use:   "tail SUBJECT",
		Short: "Print the messages published on SUBJECT (wildcards allowed) from now on",
		Args:  cobra.ExactArgs(1),
		ValidArgsFunction: cobra.FixedCompletions([]string{"kitshop.>", "kitshop.order.v1.>", "kitshop.product.v1.>",
			"kitshop.user.v1.>", "kitshop.payment.v1.>", "kitshop.deadletter.>"}, cobra.ShellCompDirectiveNoFileComp),
		RunE: func(cmd *cobra.Command, args []string) error { return g.tail(cmd.Context(), args[0], count) },
	}
	tail.Flags().IntVar(&count, "count", 0, "stop after this many messages (0: until interrupted)")

	dlq := &cobra.Command{Use: "dlq", Short: "Dead letters: the messages a consumer gave up on (stream " + events.DeadLetterStream + ")"}
	var consumer string
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List the latest dead letters", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			return g.dlqList(ctx, consumer, limit)
		},
	}
	list.Flags().StringVar(&consumer, "consumer", "", "only the dead letters of this consumer (its durable name)")
	list.Flags().IntVar(&limit, "limit", 50, "show at most this many, the latest")
	show := &cobra.Command{
		Use: "show SEQ", Short: "Show one dead letter: headers, error and data", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			return g.dlqShow(ctx, args[0])
		},
	}
	var del bool
	replay := &cobra.Command{
		Use:   "replay SEQ...",
		Short: "Publish dead letters again on their original subjects",
		Long: `Publish each dead letter again on the subject it was consumed from, with its
original headers and event id (Nats-Msg-Id), so consumers that handled the event
already skip it (their inbox knows the id) and the one that gave up gets it again.
JetStream drops a publish of an id it saw within its duplicate window (` + events.DuplicateWindow.String() + `):
such a replay is refused, to be tried again later. With --delete, each dead letter
replayed is removed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			return g.dlqReplay(ctx, args, del)
		},
	}
	replay.Flags().BoolVar(&del, "delete", false, "remove each dead letter once the broker has its replay")
	dlq.AddCommand(list, show, replay)
	cmd.AddCommand(tail, dlq)
	return cmd
}

func (g *globals) connect() (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(g.nats, nats.Name("kitctl"), nats.Timeout(g.timeout))
	if err != nil {
		return nil, nil, fmt.Errorf("nats at %s: %w", g.nats, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

type messageView struct {
	Subject string              `json:"subject"`
	Seq     uint64              `json:"seq,omitempty"`
	Time    time.Time           `json:"time,omitzero"`
	Header  map[string][]string `json:"header,omitempty"`
	Data    string              `json:"data"`
}

func (g *globals) tail(ctx context.Context, subject string, count int) error {
	nc, _, err := g.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(subject, msgs)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return err
	}
	if !g.json() {
		fmt.Fprintf(g.env.Stderr, "tailing %s on %s; interrupt to stop\n", subject, g.nats)
	}
	for n := 0; count == 0 || n < count; n++ {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			v := messageView{Subject: m.Subject, Time: time.Now().UTC(), Header: m.Header, Data: string(m.Data)}
			if g.json() {
				if err := g.emitLine(v); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(g.env.Stdout, "%s %s id=%s\n  %s\n", v.Time.Format(time.RFC3339Nano), m.Subject, m.Header.Get(jetstream.MsgIDHeader), v.Data)
		}
	}
	return nil
}

type deadLetter struct {
	Seq        uint64    `json:"seq"`
	Consumer   string    `json:"consumer"`
	Subject    string    `json:"subject"`
	EventID    string    `json:"event_id,omitempty"`
	Stream     string    `json:"stream,omitempty"`
	StreamSeq  string    `json:"stream_seq,omitempty"`
	Deliveries string    `json:"deliveries,omitempty"`
	Error      string    `json:"error"`
	Time       time.Time `json:"time"`
}

func deadLetterOf(m *jetstream.RawStreamMsg) deadLetter {
	return deadLetter{
		Seq: m.Sequence, Consumer: strings.TrimPrefix(m.Subject, events.DeadLetterSubject("")),
		Subject: m.Header.Get(subscriber.SubjectHeader), EventID: m.Header.Get(subscriber.MsgIDHeader),
		Stream: m.Header.Get(subscriber.StreamHeader), StreamSeq: m.Header.Get(subscriber.StreamSeqHeader),
		Deliveries: m.Header.Get(subscriber.DeliveriesHeader), Error: m.Header.Get(subscriber.ErrorHeader), Time: m.Time.UTC(),
	}
}

func (g *globals) dlqStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, events.DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, errs.Errorf(errs.NotFound, "no stream %s on %s: no service has dead-lettered anything yet", events.DeadLetterStream, g.nats)
	}
	return s, err
}

func (g *globals) dlqList(ctx context.Context, consumer string, limit int) error {
	nc, js, err := g.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	s, err := g.dlqStream(ctx, js)
	if err != nil {
		return err
	}
	filter := events.DeadLetterSubject(">")
	if consumer != "" {
		filter = events.DeadLetterSubject(consumer)
	}
	var out []deadLetter
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return err
		}
		out = append(out, deadLetterOf(m))
		if limit > 0 && len(out) > limit {
			out = out[1:]
		}
		seq = m.Sequence + 1
	}
	if g.json() {
		return g.emit(orEmpty(out))
	}
	rows := make([][]string, 0, len(out))
	for _, d := range out {
		rows = append(rows, []string{strconv.FormatUint(d.Seq, 10), d.Time.Format(time.RFC3339), d.Consumer, d.Subject, dash(d.EventID), dash(d.Deliveries), firstLine(d.Error)})
	}
	return g.table([]string{"SEQ", "TIME", "CONSUMER", "SUBJECT", "EVENT ID", "DELIVERIES", "ERROR"}, rows)
}

func parseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, errs.Errorf(errs.Invalid, "%q is not a dead letter's sequence number (see kitctl events dlq list)", s)
	}
	return n, nil
}

func (g *globals) dlqGet(ctx context.Context, s jetstream.Stream, arg string) (*jetstream.RawStreamMsg, error) {
	seq, err := parseSeq(arg)
	if err != nil {
		return nil, err
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, errs.Errorf(errs.NotFound, "no dead letter %d", seq)
	}
	return m, err
}

func (g *globals) dlqShow(ctx context.Context, arg string) error {
	nc, js, err := g.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	s, err := g.dlqStream(ctx, js)
	if err != nil {
		return err
	}
	m, err := g.dlqGet(ctx, s, arg)
	if err != nil {
		return err
	}
	d := deadLetterOf(m)
	if g.json() {
		return g.emit(map[string]any{"dead_letter": d, "message": messageView{Subject: m.Subject, Seq: m.Sequence, Time: m.Time.UTC(), Header: m.Header, Data: string(m.Data)}})
	}
	w := g.env.Stdout
	fmt.Fprintf(w, "Dead letter %d (%s), %s\n", d.Seq, m.Subject, d.Time.Format(time.RFC3339))
	fmt.Fprintf(w, "  consumer:   %s\n  subject:    %s\n  event id:   %s\n  stream:     %s seq %s\n  deliveries: %s\n  error:      %s\n",
		d.Consumer, d.Subject, dash(d.EventID), dash(d.Stream), dash(d.StreamSeq), dash(d.Deliveries), d.Error)
	keys := make([]string, 0, len(m.Header))
	for k := range m.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintln(w, "Headers:")
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(m.Header[k], ", "))
	}
	fmt.Fprintf(w, "Data:\n  %s\n", m.Data)
	return nil
}

// replayed is the outcome of one replay.
type replayed struct {
	Seq       uint64 `json:"seq"`
	Subject   string `json:"subject"`
	EventID   string `json:"event_id,omitempty"`
	Stream    string `json:"stream"`
	StreamSeq uint64 `json:"stream_seq"`
	Deleted   bool   `json:"deleted"`
}

func (g *globals) dlqReplay(ctx context.Context, args []string, del bool) error {
	nc, js, err := g.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	s, err := g.dlqStream(ctx, js)
	if err != nil {
		return err
	}
	var done []replayed
	for _, arg := range args {
		m, err := g.dlqGet(ctx, s, arg)
		if err != nil {
			return err
		}
		r, err := replay(ctx, js, m)
		if err != nil {
			return err
		}
		if del {
			if err := s.DeleteMsg(ctx, m.Sequence); err != nil {
				return fmt.Errorf("dead letter %d replayed (stream %s seq %d) but not deleted: %w", m.Sequence, r.Stream, r.StreamSeq, err)
			}
			r.Deleted = true
		}
		done = append(done, r)
		if !g.json() {
			fmt.Fprintf(g.env.Stdout, "dead letter %d replayed on %s as %s seq %d", r.Seq, r.Subject, r.Stream, r.StreamSeq)
			if r.Deleted {
				fmt.Fprint(g.env.Stdout, " (dead letter deleted)")
			}
			fmt.Fprintln(g.env.Stdout)
		}
	}
	if g.json() {
		return g.emit(done)
	}
	return nil
}

// replay publishes dead letter m on its original subject with the
// original's headers: the dead-letter headers go, the event id goes back
// into Nats-Msg-Id.
func replay(ctx context.Context, js jetstream.JetStream, m *jetstream.RawStreamMsg) (replayed, error) {
	subject := m.Header.Get(subscriber.SubjectHeader)
	if subject == "" {
		return replayed{}, errs.Errorf(errs.Invalid, "dead letter %d has no %s header: not written by a kitshop consumer", m.Sequence, subscriber.SubjectHeader)
	}
	msg := nats.NewMsg(subject)
	msg.Data = m.Data
	for k, vs := range m.Header {
		if strings.HasPrefix(k, "Kitshop-Dead-") || k == jetstream.MsgIDHeader {
			continue
		}
		msg.Header[k] = slices.Clone(vs)
	}
	id := m.Header.Get(subscriber.MsgIDHeader)
	if id != "" {
		msg.Header.Set(jetstream.MsgIDHeader, id)
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return replayed{}, fmt.Errorf("replay of dead letter %d on %s: %w", m.Sequence, subject, err)
	}
	if ack.Duplicate {
		return replayed{}, errs.Errorf(errs.Conflict, "dead letter %d not replayed: stream %s saw event %s within its duplicate window (%s) and dropped the publish; replay it again later",
			m.Sequence, ack.Stream, id, events.DuplicateWindow)
	}
	return replayed{Seq: m.Sequence, Subject: subject, EventID: id, Stream: ack.Stream, StreamSeq: ack.Sequence}, nil
}

// emitLine writes v as one line of JSON, for streams of objects.
func (g *globals) emitLine(v any) error {
	return jsonLine(g.env.Stdout, v)
}
