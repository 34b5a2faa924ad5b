//go:build tools

// Package tools records the commands that scripts/testenv.sh builds from this module,
// so that `go mod tidy` keeps their dependencies in go.mod/go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
