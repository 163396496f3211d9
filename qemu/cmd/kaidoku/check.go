package main

import (
	"flag"
	"fmt"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// checkCmd builds every image and vets the GOOS=tamago packages with the
// TamaGo toolchain (make test runs it before the tests). Where QEMU or the
// toolchain is missing it prints one line saying which (the end-to-end
// package then skips); without the toolchain it succeeds, so a machine
// without it still runs the host tests; with it, any image that does not
// build or any vet finding fails.
func checkCmd(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kaidoku check\n\nBuilds every image under image/ and runs go vet on the GOOS=tamago packages.")
	}
	fs.Parse(args)
	if fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("check takes no arguments")
	}
	root, err := qemu.ModuleRoot()
	if err != nil {
		return err
	}
	_, ok, err := qemu.ToolchainDir(root)
	if err != nil {
		return err
	}
	if why := qemu.Missing(root); !ok {
		fmt.Println("end-to-end tests and image builds skipped:", why)
		return nil
	} else if why != "" {
		fmt.Println("end-to-end tests skipped:", why)
	}
	return qemu.CheckImages(root, func(format string, args ...any) {
		fmt.Printf(format+"\n", args...)
	})
}
