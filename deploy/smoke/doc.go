// Package smoke holds readme-flow.sh, the curl commands README.md shows,
// checked, and a test that runs it against the stack of `make run`
// (deploy/local). `make compose-test` runs the same script against the
// containers of docker-compose.yml, so the README's credentials and answers
// hold on both paths.
package smoke
