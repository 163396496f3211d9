// Command callers prints the frames of its own stack as the Go runtime
// names them (inlined ones included), one per line:
// pc<TAB>function<TAB>file<TAB>line, where pc is the frame's call
// instruction (or, innermost, the current one) as Frame.PC gives it. The
// profile package's tests build it and compare its ELF symbolisation with
// this.
package main

import (
	"fmt"
	"runtime"
)

func main() { outer() }

//go:noinline
func outer() { inlined() }

// inlined is small enough to be inlined into outer.
func inlined() { dump() }

//go:noinline
func dump() {
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	for {
		f, more := frames.Next()
		fmt.Printf("%d\t%s\t%s\t%d\n", f.PC, f.Function, f.File, f.Line)
		if !more {
			break
		}
	}
}
