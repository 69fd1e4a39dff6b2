package kitctl

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/liveconfig"
	"github.com/kitshop/kitshop/order"
)

// SchemaFor is the live configuration schema of service: the gateway's, or
// that of a service built on kit/app with its own settings. It is the one
// the services themselves apply, so kitctl refuses what they would ignore.
func SchemaFor(service string) liveconfig.Schema {
	switch service {
	case gateway.LiveService:
		return gateway.LiveSchema()
	case "order":
		return app.LiveSchema(service, order.LiveSettings()...)
	default:
		return app.LiveSchema(service)
	}
}

func (g *globals) liveClient() (*liveconfig.Client, error) { return liveconfig.NewClient(g.consul) }

// checkService refuses a service that is neither the gateway nor in
// Consul: a typo would otherwise write settings nobody reads.
func (g *globals) checkService(ctx context.Context, service string) error {
	if service == gateway.LiveService {
		return nil
	}
	c, err := g.consulAPI()
	if err != nil {
		return err
	}
	names, err := g.serviceNames(ctx, c)
	if err != nil {
		return err
	}
	if !slices.Contains(names, service) {
		return errs.Errorf(errs.NotFound, "no service %q in Consul (known: %s)", service, strings.Join(append([]string{gateway.LiveService}, names...), ", "))
	}
	return nil
}

// author names who writes a setting: $KITCTL_AUTHOR, else user@host.
func (g *globals) author() string {
	if a := g.env.Getenv("KITCTL_AUTHOR"); a != "" {
		return a
	}
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

func configCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Read and change the live configuration (kitshop/config/<service>/<key> in Consul)",
		Long: `Every instance of a service applies a change of its live configuration within a
second, without a restart, and logs it. kitctl checks a value against the
service's schema before it writes it; a setting not stored is the default of
the instance's flags and environment.`,
	}
	completeKeys := func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			names, dir := g.completeServices(cmd, nil, s)
			return append(names, gateway.LiveService), dir
		case 1:
			var keys []string
			for _, d := range SchemaFor(args[0]).Settings() {
				keys = append(keys, d.Key()+"\t"+d.Doc())
			}
			return keys, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	get := &cobra.Command{
		Use: "get SERVICE KEY", Short: "Print a stored setting", Args: cobra.ExactArgs(2), ValidArgsFunction: completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			if _, ok := SchemaFor(args[0]).Lookup(args[1]); !ok {
				if err := SchemaFor(args[0]).Check(args[1], "false"); err != nil {
					return errs.Errorf(errs.NotFound, "%v", err)
				}
			}
			c, err := g.liveClient()
			if err != nil {
				return err
			}
			e, ok, err := c.Get(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if !ok {
				return errs.Errorf(errs.NotFound, "%s %s is not set: the instances use their default (flag or environment)", args[0], args[1])
			}
			if g.json() {
				return g.emit(e)
			}
			_, err = fmt.Fprintln(g.env.Stdout, e.Value)
			return err
		},
	}
	set := &cobra.Command{
		Use: "set SERVICE KEY VALUE", Short: "Check a value against the service's schema and store it", Args: cobra.ExactArgs(3), ValidArgsFunction: completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			schema := SchemaFor(args[0])
			if err := schema.Check(args[1], args[2]); err != nil {
				return &errs.Error{Kind: errs.Invalid, Message: err.Error()}
			}
			if err := g.checkService(ctx, args[0]); err != nil {
				return err
			}
			c, err := g.liveClient()
			if err != nil {
				return err
			}
			old, had, err := c.Get(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if err := c.Set(ctx, schema, args[1], args[2], g.author()); err != nil {
				return err
			}
			e, _, err := c.Get(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if g.json() {
				return g.emit(e)
			}
			was := "the default"
			if had {
				was = old.Value
			}
			_, err = fmt.Fprintf(g.env.Stdout, "%s %s = %s (was %s)\n", args[0], args[1], e.Value, was)
			return err
		},
	}
	del := &cobra.Command{
		Use: "delete SERVICE KEY", Short: "Remove a stored setting: the instances go back to their default", Args: cobra.ExactArgs(2), ValidArgsFunction: completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			c, err := g.liveClient()
			if err != nil {
				return err
			}
			if err := c.Delete(ctx, args[0], args[1]); err != nil {
				return err
			}
			if g.json() {
				return g.emit(map[string]any{"service": args[0], "key": args[1], "deleted": true})
			}
			_, err = fmt.Fprintf(g.env.Stdout, "%s %s deleted: back to the default\n", args[0], args[1])
			return err
		},
	}
	list := &cobra.Command{
		Use: "list SERVICE", Short: "Every live setting of a service, stored or default", Args: cobra.ExactArgs(1), ValidArgsFunction: completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			return g.configList(ctx, args[0])
		},
	}
	watch := &cobra.Command{
		Use: "watch SERVICE", Short: "Print every change of a service's settings until interrupted", Args: cobra.ExactArgs(1), ValidArgsFunction: completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.configWatch(cmd.Context(), args[0])
		},
	}
	// A value may start with a dash (-1): everything after the service is
	// an argument, so flags go before it.
	set.Flags().SetInterspersed(false)
	cmd.AddCommand(get, set, del, list, watch)
	return cmd
}

type settingView struct {
	Key     string             `json:"key"`
	Value   string             `json:"value,omitempty"`
	Stored  bool               `json:"stored"`
	Author  *liveconfig.Author `json:"author,omitempty"`
	Problem string             `json:"problem,omitempty"`
	Doc     string             `json:"doc,omitempty"`
}

func (g *globals) configList(ctx context.Context, service string) error {
	c, err := g.liveClient()
	if err != nil {
		return err
	}
	stored, _, err := c.List(ctx, service, 0, 0)
	if err != nil {
		return fmt.Errorf("consul at %s: %w", g.consul, err)
	}
	schema := SchemaFor(service)
	byKey := map[string]liveconfig.Entry{}
	for _, e := range stored {
		byKey[e.Key] = e
	}
	var views []settingView
	for _, d := range schema.Settings() {
		v := settingView{Key: d.Key(), Doc: d.Doc()}
		if e, ok := byKey[d.Key()]; ok {
			v.Value, v.Stored, v.Author = e.Value, true, e.Author
			delete(byKey, d.Key())
		}
		views = append(views, v)
	}
	for _, e := range stored {
		if _, left := byKey[e.Key]; !left {
			continue
		}
		v := settingView{Key: e.Key, Value: e.Value, Stored: true, Author: e.Author}
		if err := schema.Check(e.Key, e.Value); err != nil {
			v.Problem = err.Error()
		}
		views = append(views, v)
	}
	for i, v := range views {
		if v.Stored && v.Problem == "" {
			if err := schema.Check(v.Key, v.Value); err != nil {
				views[i].Problem = "ignored by the service: " + err.Error()
			}
		}
	}
	if g.json() {
		return g.emit(orEmpty(views))
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		value := v.Value
		if !v.Stored {
			value = "(default)"
		}
		by := "-"
		if v.Author != nil {
			by = v.Author.By + " " + v.Author.At.Format(time.RFC3339)
		}
		note := v.Doc
		if v.Problem != "" {
			note = "INVALID: " + v.Problem
		}
		rows = append(rows, []string{v.Key, value, by, note})
	}
	return g.table([]string{"KEY", "VALUE", "WRITTEN BY", "DESCRIPTION"}, rows)
}

func (g *globals) configWatch(ctx context.Context, service string) error {
	c, err := g.liveClient()
	if err != nil {
		return err
	}
	var (
		index uint64
		known map[string]liveconfig.Entry
	)
	for {
		qctx, cancel := context.WithTimeout(ctx, 70*time.Second)
		got, next, err := c.List(qctx, service, index, time.Minute)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			fmt.Fprintf(g.env.Stderr, "kitctl: consul at %s: %v (retrying)\n", g.consul, err)
			time.Sleep(time.Second)
			index = 0
			continue
		}
		if next < index {
			next = 0
		}
		index = max(next, 1)
		now := map[string]liveconfig.Entry{}
		for _, e := range got {
			now[e.Key] = e
		}
		if known != nil {
			g.printChanges(service, known, now)
		} else if !g.json() {
			fmt.Fprintf(g.env.Stdout, "watching %s (%d settings stored); interrupt to stop\n", service, len(now))
		}
		known = now
	}
}

type changeView struct {
	Time    time.Time          `json:"time"`
	Service string             `json:"service"`
	Key     string             `json:"key"`
	Old     *string            `json:"old"`
	New     *string            `json:"new"`
	Author  *liveconfig.Author `json:"author,omitempty"`
	Problem string             `json:"problem,omitempty"`
}

func (g *globals) printChanges(service string, before, after map[string]liveconfig.Entry) {
	var keys []string
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	schema := SchemaFor(service)
	for _, k := range keys {
		b, hadB := before[k]
		a, hasA := after[k]
		if hadB && hasA && a.Index == b.Index {
			continue
		}
		ch := changeView{Time: time.Now().UTC(), Service: service, Key: k}
		if hadB {
			ch.Old = &b.Value
		}
		if hasA {
			ch.New, ch.Author = &a.Value, a.Author
			if err := schema.Check(k, a.Value); err != nil {
				ch.Problem = err.Error()
			}
		}
		if g.json() {
			_ = g.emitLine(ch)
			continue
		}
		line := fmt.Sprintf("%s %s %s: %s -> %s", ch.Time.Format(time.RFC3339), service, k, orDefault(ch.Old), orDefault(ch.New))
		if ch.Author != nil {
			line += " by " + ch.Author.By
		}
		if ch.Problem != "" {
			line += " (INVALID, ignored: " + ch.Problem + ")"
		}
		fmt.Fprintln(g.env.Stdout, line)
	}
}

func orDefault(s *string) string {
	if s == nil {
		return "(default)"
	}
	return *s
}
