// Package version tells which build of kitshop a binary is: its version,
// the commit it was built from and when.
//
// The Makefile and the Dockerfile set the three at link time:
//
//	go build -ldflags "-X github.com/kitshop/kitshop/kit/version.Version=v0.2.0 \
//	    -X github.com/kitshop/kitshop/kit/version.Commit=$(git rev-parse HEAD) \
//	    -X github.com/kitshop/kitshop/kit/version.BuildTime=2026-12-06T22:40:00Z" ./...
//
// A binary built without them (go build, go run, go test) still knows its
// commit and its time from the build information the go command records
// from version control (vcs.revision, vcs.time), so Get never answers with
// nothing worse than "devel" and "unknown".
//
// Every command takes -version (Flag), prints what Get returns (Print) and
// exits 0; kit/server puts the version and commit in the body of /healthz,
// so an operator can tell which build answers without a shell on the host.
package version
