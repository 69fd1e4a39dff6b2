package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Resident is a process's resident memory in KiB: all of it (VmRSS), and
// its private part (RssAnon: heap, stacks). The rest is mostly the pages
// of the executable mapped from the page cache, which every process of
// the same binary shares.
type Resident struct {
	RSS, Anon int64
}

// ReadResident reads process pid's resident memory from /proc/<pid>/status.
func ReadResident(pid int) (Resident, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return Resident{}, err
	}
	return parseResident(b)
}

func parseResident(status []byte) (Resident, error) {
	var r Resident
	var found int
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		var dst *int64
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if ok {
			dst = &r.RSS
		} else if rest, ok = strings.CutPrefix(line, "RssAnon:"); ok {
			dst = &r.Anon
		} else {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return Resident{}, fmt.Errorf("line %q: want \"<n> kB\"", line)
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return Resident{}, err
		}
		*dst = n
		found++
	}
	if found != 2 {
		return Resident{}, errors.New("no VmRSS and RssAnon lines (a kernel thread or a zombie?)")
	}
	return r, nil
}

// CPUModel returns the first "model name" of /proc/cpuinfo, or "unknown".
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// LoadAvg returns the 1-minute load average from /proc/loadavg, or "".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if fields := strings.Fields(string(b)); len(fields) > 0 {
		return fields[0]
	}
	return ""
}

// PidListening returns the process that listens on TCP port on any local
// address, by matching the socket's inode in /proc/net/tcp{,6} against the
// open descriptors under /proc/<pid>/fd. Processes of other users are
// invisible to a non-root caller; 0 and an error then.
func PidListening(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, ino := range listeningInodes(b, port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name()))
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("port %d: listening socket found but not its process (another user's?)", port)
}

// listeningInodes returns the inodes of the sockets in LISTEN state on port
// in a /proc/net/tcp table.
func listeningInodes(table []byte, port int) []string {
	const listen = "0A"
	var out []string
	for i, line := range strings.Split(string(table), "\n") {
		fields := strings.Fields(line)
		if i == 0 || len(fields) < 10 || fields[3] != listen {
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
			out = append(out, fields[9])
		}
	}
	return out
}
