//go:build tools

// Package tools records that this module builds SeaweedFS's `weed` command, so `go mod tidy` keeps
// its whole dependency graph in go.mod and go.sum. The command itself is built by path:
// `go build github.com/seaweedfs/seaweedfs/weed` (scripts/build-s3server).
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
