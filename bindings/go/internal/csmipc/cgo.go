// Package csmipc is what SWIG generates from bindings/smipc.i: the C API as it is, with
// statuses as ints. Package smipc is the Go API over it.
package csmipc

// #cgo pkg-config: smipc
import "C"
