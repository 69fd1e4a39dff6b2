package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ProcessConfig describes a child process to start.
type ProcessConfig struct {
	// Name identifies the process in errors and in the log header.
	Name string
	// Path is the executable.
	Path string
	// Args are the arguments, without the program name.
	Args []string
	// Env is added to the current environment (a later entry wins over an
	// inherited one with the same key).
	Env []string
	// LogPath receives stdout and stderr, appended, with a header line per
	// start. Its directory is created. Empty discards the output.
	LogPath string
	// Dir is the working directory; empty means the current one.
	Dir string
	// StopSignal is what Stop sends first; zero means SIGTERM. PostgreSQL
	// wants SIGINT (fast shutdown): on SIGTERM it waits for clients to leave.
	StopSignal syscall.Signal
	// Credential, when set, runs the process as another user (root only).
	Credential *syscall.Credential
}

// Process is a running child in its own process group. Its methods are safe
// for concurrent use.
type Process struct {
	name    string
	logPath string
	stopSig syscall.Signal
	pid     int
	done    chan struct{}
	err     error // exit status; written before done is closed
}

// StartProcess starts the process described by cfg. ctx only bounds the start:
// the process lives until Stop or Kill (or until it exits by itself), so a
// caller's request context cannot take a shared server down by accident.
func StartProcess(ctx context.Context, cfg ProcessConfig) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	if cfg.Path == "" {
		return nil, fmt.Errorf("start %s: no executable path", cfg.Name)
	}
	out, err := openLog(cfg.LogPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	// The child keeps its own copy of the descriptor; ours is not needed
	// after Start.
	defer out.Close()

	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Dir = cfg.Dir
	cmd.Env = append(os.Environ(), cfg.Env...)
	cmd.Stdout = out
	cmd.Stderr = out
	stopSig := cfg.StopSignal
	if stopSig == 0 {
		stopSig = syscall.SIGTERM
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: Stop can signal everything the child forks,
		// and a Ctrl-C in the terminal reaches only us, so we decide the
		// shutdown order.
		Setpgid: true,
		// If we die without stopping it (a test timeout, kill -9), the
		// child is asked to shut down instead of being orphaned.
		Pdeathsig:  stopSig,
		Credential: cfg.Credential,
	}
	// The header goes first: a child that fails at once may have written
	// its last words and exited before Start returns, and they must stay
	// the log's last line.
	fmt.Fprintf(out, "==> %s starting at %s\n", cfg.Name, time.Now().UTC().Format(time.RFC3339))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}

	p := &Process{
		name:    cfg.Name,
		logPath: cfg.LogPath,
		stopSig: stopSig,
		pid:     cmd.Process.Pid,
		done:    make(chan struct{}),
	}
	go func() {
		err := cmd.Wait()
		// Nothing the child forked may outlive it. The group id cannot
		// have been reused while members remain, and the leader was reaped
		// only a moment ago, so this cannot hit a stranger.
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		p.err = err
		close(p.done)
	}()
	return p, nil
}

func openLog(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// Name returns the name given in ProcessConfig.
func (p *Process) Name() string { return p.name }

// Pid returns the process id, which is also its process group id.
func (p *Process) Pid() int { return p.pid }

// LogPath returns the file receiving the process output ("" if discarded).
func (p *Process) LogPath() string { return p.logPath }

// LogTail returns the last n lines of the process log, for error messages.
func (p *Process) LogTail(n int) string { return TailFile(p.logPath, n) }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns the exit error once Done is closed (nil for a zero exit status
// and before the process has exited).
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Stop asks the process group to exit with the stop signal and waits up to
// grace; whatever is left then gets SIGKILL. It returns once the process has
// been reaped. A process that had already exited is not an error; one that
// had to be killed is, so callers can see a shutdown that hangs.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.signal(p.stopSig); err != nil {
		return err
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}
	if err := p.Kill(); err != nil {
		return err
	}
	return fmt.Errorf("%s did not exit within %s of %v; killed", p.name, grace, p.stopSig)
}

// Kill sends SIGKILL to the whole process group and waits until the process
// has been reaped.
func (p *Process) Kill() error {
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

func (p *Process) signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	return nil
}
