package validate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Instruction is one Dockerfile instruction, continuation lines joined.
type Instruction struct {
	Cmd   string   // upper case: FROM, RUN, COPY...
	Flags []string // leading --flags, e.g. "--from=build", "--chown=65532:65532"
	Args  string   // the rest of the instruction, trimmed
	Line  int      // line number of the instruction's first line
}

// ExecForm returns the arguments of a JSON (exec) form instruction such as
// ENTRYPOINT ["/usr/local/bin/service"], and false for the shell form.
func (in Instruction) ExecForm() ([]string, bool) {
	if !strings.HasPrefix(in.Args, "[") {
		return nil, false
	}
	var args []string
	if err := json.Unmarshal([]byte(in.Args), &args); err != nil {
		return nil, false
	}
	return args, true
}

// Flag returns the value of a --name=value flag of the instruction.
func (in Instruction) Flag(name string) (string, bool) {
	for _, f := range in.Flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// Stage is a build stage: a FROM and the instructions up to the next FROM.
type Stage struct {
	Base         string // the image (or earlier stage) after FROM
	Name         string // the name after AS, "" if none
	Platform     string // the --platform flag, if any
	Line         int
	Instructions []Instruction
}

// Dockerfile is a parsed Dockerfile: the global ARGs before the first FROM
// and the stages in order.
type Dockerfile struct {
	GlobalArgs []Instruction
	Stages     []Stage
}

// Final returns the last stage, the one `docker build` outputs without
// --target.
func (d *Dockerfile) Final() Stage {
	return d.Stages[len(d.Stages)-1]
}

// DefaultBase returns s's base image with a global ARG in it (FROM ${NAME}
// or FROM $NAME) replaced by that ARG's default: the image a build without
// --build-arg uses. ok is false when the base names an ARG without a
// default, or one that is not global.
func (d *Dockerfile) DefaultBase(s Stage) (base string, ok bool) {
	defaults := map[string]string{}
	for _, in := range d.GlobalArgs {
		if name, value, found := strings.Cut(in.Args, "="); found {
			defaults[strings.TrimSpace(name)] = strings.Trim(strings.TrimSpace(value), `"'`)
		}
	}
	ok = true
	base = os.Expand(s.Base, func(name string) string {
		v, found := defaults[name]
		if !found || v == "" {
			ok = false
		}
		return v
	})
	return base, ok
}

// StageNamed returns the stage with the given AS name.
func (d *Dockerfile) StageNamed(name string) (Stage, bool) {
	for _, s := range d.Stages {
		if s.Name != "" && strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return Stage{}, false
}

var (
	directiveRE = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`)
	flagRE      = regexp.MustCompile(`^--[a-z-]+(=\S*)?$`)
)

// ParseDockerfile parses the Dockerfile syntax kitshop uses: comments,
// parser directives (escape), line continuations, flags and the exec and
// shell forms. Heredocs are not supported and are reported as an error
// rather than misread.
func ParseDockerfile(r io.Reader) (*Dockerfile, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	escape := `\`
	var (
		d          Dockerfile
		lineNo     int
		start      int
		buf        strings.Builder
		directives = true // parser directives are only valid at the very top
	)
	flush := func() error {
		text := strings.TrimSpace(buf.String())
		buf.Reset()
		if text == "" {
			return nil
		}
		in, err := parseInstruction(text, start)
		if err != nil {
			return err
		}
		return d.add(in)
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if directives {
			if m := directiveRE.FindStringSubmatch(trimmed); m != nil {
				if strings.EqualFold(m[1], "escape") {
					if m[2] != `\` && m[2] != "`" {
						return nil, fmt.Errorf("line %d: escape must be \\ or `", lineNo)
					}
					escape = m[2]
				}
				continue
			}
			directives = false
		}
		// Comment lines are dropped, even inside a continued instruction.
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if trimmed == "" {
			continue // blank lines never end an instruction
		}
		if buf.Len() == 0 {
			start = lineNo
		}
		if strings.Contains(trimmed, "<<") && buf.Len() == 0 && heredocRE.MatchString(trimmed) {
			return nil, fmt.Errorf("line %d: heredocs are not supported by this parser", lineNo)
		}
		if strings.HasSuffix(trimmed, escape) {
			buf.WriteString(strings.TrimSuffix(trimmed, escape))
			buf.WriteString(" ")
			continue
		}
		buf.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if buf.Len() > 0 {
		return nil, fmt.Errorf("line %d: the file ends inside a continued instruction", start)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(d.Stages) == 0 {
		return nil, fmt.Errorf("no FROM instruction")
	}
	return &d, nil
}

var heredocRE = regexp.MustCompile(`^(RUN|COPY|ADD)\s.*<<-?["']?[A-Za-z_]+["']?\s*$`)

func parseInstruction(text string, line int) (Instruction, error) {
	cmd, rest, _ := strings.Cut(text, " ")
	in := Instruction{Cmd: strings.ToUpper(cmd), Line: line}
	rest = strings.TrimSpace(rest)
	// Leading --flags (FROM --platform, COPY --from/--chown, RUN --mount).
	for strings.HasPrefix(rest, "--") {
		word, tail, _ := strings.Cut(rest, " ")
		if !flagRE.MatchString(word) {
			break
		}
		in.Flags = append(in.Flags, word)
		rest = strings.TrimSpace(tail)
	}
	in.Args = rest
	if in.Args == "" {
		return Instruction{}, fmt.Errorf("line %d: %s without arguments", line, in.Cmd)
	}
	return in, nil
}

func (d *Dockerfile) add(in Instruction) error {
	if in.Cmd == "FROM" {
		fields := strings.Fields(in.Args)
		s := Stage{Base: fields[0], Line: in.Line}
		switch {
		case len(fields) == 3 && strings.EqualFold(fields[1], "AS"):
			s.Name = fields[2]
		case len(fields) != 1:
			return fmt.Errorf("line %d: want FROM image [AS name]", in.Line)
		}
		s.Platform, _ = in.Flag("platform")
		d.Stages = append(d.Stages, s)
		return nil
	}
	if len(d.Stages) == 0 {
		if in.Cmd != "ARG" {
			return fmt.Errorf("line %d: %s before the first FROM", in.Line, in.Cmd)
		}
		d.GlobalArgs = append(d.GlobalArgs, in)
		return nil
	}
	last := &d.Stages[len(d.Stages)-1]
	last.Instructions = append(last.Instructions, in)
	return nil
}

// pinnedTagRE matches a tag that names a version: it contains a digit
// (1.26.8-bookworm, v2.55.1, 15.13) rather than a moving name such as
// latest, stable or bookworm.
var pinnedTagRE = regexp.MustCompile(`[0-9]`)

// ImagePinned reports whether an image reference names a fixed version: a
// digest (@sha256:...), or a tag with a version number in it. "latest",
// a missing tag and tags without digits (stable, bookworm, nonroot) are
// not pinned. scratch is not an image and counts as pinned.
func ImagePinned(ref string) bool {
	if ref == "scratch" {
		return true
	}
	if _, digest, ok := strings.Cut(ref, "@"); ok {
		return strings.HasPrefix(digest, "sha256:") && len(digest) == len("sha256:")+64
	}
	// The tag is after the last colon, unless that colon belongs to a
	// registry host:port (then a slash follows it).
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return false
	}
	tag := ref[i+1:]
	return tag != "" && tag != "latest" && pinnedTagRE.MatchString(tag)
}
