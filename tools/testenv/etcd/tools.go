//go:build tools

// Package tools records the command that scripts/testenv.sh builds from this module
// (etcd's main package is the root of go.etcd.io/etcd/server/v3), so that
// `go mod tidy` keeps its dependencies in go.mod/go.sum.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
