package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// runtimePkg is the package a program calls to become a unikernel.
const runtimePkg = "github.com/kaidoku-net/kaidoku/unikernel"

// buildCmd builds a main package as an image.
func buildCmd(args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	out := fs.String("o", "", "the image to write (default: the package's name with .elf, in the current directory)")
	words := fs.String("cmdline", "", "kaidoku words built into the image, e.g. 'kaidoku.addr=10.0.2.16/24' (the boot line overrides them)")
	tags := fs.String("tags", "", "build tags, comma-separated; gvisor: the program's sockets are gVisor's netstack on kaidoku's driver (package unikernel)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: kaidoku build [-o FILE] [-cmdline WORDS] [-tags TAGS] PACKAGE")
		fmt.Fprintln(w, "\nBuilds the main package PACKAGE, which calls unikernel.Start ("+runtimePkg+"),")
		fmt.Fprintln(w, "as a kaidoku image for QEMU microvm (GOOS=tamago, with `go tool tamago`).")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("build takes one package, e.g. kaidoku build ./image/dns")
	}
	pkg := fs.Arg(0)
	if *out == "" {
		name, err := packageName(pkg)
		if err != nil {
			return err
		}
		*out = name + ".elf"
	}
	if err := buildImage(pkg, *out, *words, splitList(*tags)...); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "kaidoku: built %s from %s\n", *out, pkg)
	return nil
}

// packageName is the last element of pkg's directory or import path.
func packageName(pkg string) (string, error) {
	if isLocal(pkg) {
		abs, err := filepath.Abs(pkg)
		if err != nil {
			return "", err
		}
		return filepath.Base(abs), nil
	}
	return filepath.Base(pkg), nil
}

// isLocal says whether pkg is a directory rather than an import path, as
// the go command tells them apart.
func isLocal(pkg string) bool {
	return pkg == "." || pkg == ".." || filepath.IsAbs(pkg) ||
		strings.HasPrefix(pkg, "./") || strings.HasPrefix(pkg, "../")
}

// buildImage checks that pkg is a program on the runtime and builds it
// into out, with words built into its command line and the build tags
// tags. The errors say what to do.
func buildImage(pkg, out, words string, tags ...string) error {
	root, err := qemu.ModuleRoot()
	if err != nil {
		return fmt.Errorf("%v: run kaidoku inside the Go module of the program (its go.mod requires github.com/kaidoku-net/kaidoku)", err)
	}
	// The go command runs in the module root: make a directory absolute.
	if isLocal(pkg) {
		if pkg, err = filepath.Abs(pkg); err != nil {
			return err
		}
	}
	if dir, ok, err := qemu.ToolchainDir(root); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("the TamaGo toolchain is not installed (want %s): run `go tool tamago version` once on a machine with internet access, which installs it", dir)
	}
	if err := checkProgram(root, pkg); err != nil {
		return err
	}
	ldflags := ""
	if words != "" {
		ldflags = fmt.Sprintf("-X '%s.builtinCmdline=%s'", runtimePkg, words)
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	return qemu.BuildImage(root, pkg, out, ldflags, tags...)
}

// checkProgram refuses, with what to do, a package that is not a main
// package for GOOS=tamago or that never imports the runtime (which would
// boot without a network, or not at all).
func checkProgram(root, pkg string) error {
	cmd, err := qemu.Tamago(root, "list", "-deps", "-f", "{{.ImportPath}} {{.Name}}", pkg)
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "build constraints exclude all Go files") {
			return fmt.Errorf("%s has no Go file for GOOS=tamago (a //go:build line excludes them all): kaidoku builds programs for tamago\n%s", pkg, msg)
		}
		return fmt.Errorf("%s: %s", pkg, msg)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	// -deps lists the package itself last.
	path, name, _ := strings.Cut(lines[len(lines)-1], " ")
	if name != "main" {
		return fmt.Errorf("%s is package %s, not a program: kaidoku builds a main package (package main with a func main that calls unikernel.Start)", path, name)
	}
	for _, l := range lines {
		if p, _, _ := strings.Cut(l, " "); p == runtimePkg {
			return nil
		}
	}
	return fmt.Errorf("%s never imports %s, so it would boot without a network: call unikernel.Start(unikernel.Options{}) at the start of main (go doc %s)", path, runtimePkg, runtimePkg)
}

// isImage says whether path is a file holding an ELF image, as opposed to
// a package to build.
func isImage(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() {
		return false
	}
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
