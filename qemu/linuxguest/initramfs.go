package linuxguest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// URoot is the u-root release that builds the initramfs, fetched through
// the Go module proxy by `go install` into the work directory. It is not a
// dependency in go.mod: its own dependencies would otherwise join the
// module graph of the unikernel. v0.16.0 builds with Go 1.26.
const URoot = "github.com/u-root/u-root@v0.16.0"

// echoPkg is the guest program, relative to the module root.
const echoPkg = "./image/linuxecho"

// guestModulesDir is where /init finds the modules to load, in name
// order (image/linuxecho's modulesDir).
const guestModulesDir = "lib/modules/kaidoku"

// recipe changes whenever the way the initramfs is put together changes,
// so that older cached archives are not reused.
const recipe = "linuxguest initramfs 2"

// buildInitramfs builds, or finds in workdir, the initramfs: u-root's base
// layout (/dev/console and friends, /proc, /sys, /tmp), image/linuxecho
// built as a static Linux binary (u-root's binary builder: plain go build,
// stripped, -trimpath) and linked as /init, and the modules as
// lib/modules/kaidoku/NN-name.ko. The archive's name is a hash of all its
// inputs: the recipe, u-root's version, the Go version, the sources of
// the program and of the module's packages it imports (the agent's
// protocol), go.mod and go.sum, and the modules.
//
// programs are more packages built into /bin (Options.Programs); the
// archive with them is named apart from the one without, which keeps its
// name.
func buildInitramfs(root, workdir string, mods []module, programs []string) (string, error) {
	goVersion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w (is the go command installed?)", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", recipe, URoot, bytes.TrimSpace(goVersion))
	for _, p := range programs {
		fmt.Fprintf(h, "program %s\n", p)
	}
	srcs, err := programSources(root, append([]string{echoPkg}, programs...))
	if err != nil {
		return "", err
	}
	for _, f := range append(srcs, filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if err := hashFile(h, f); err != nil && !os.IsNotExist(err) {
			return "", err
		}
	}
	for _, m := range mods {
		fmt.Fprintf(h, "module %s\n", m.name)
		if err := hashFile(h, m.path); err != nil {
			return "", err
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	// initramfs-<key>.cpio, or initramfs-<programs>-<key>.cpio with
	// programs: each kind kept beside the others.
	prefix := "initramfs-"
	for _, p := range programs {
		prefix += filepath.Base(p) + "-"
	}
	out := filepath.Join(workdir, prefix+key+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}

	uroot, err := installURoot(workdir)
	if err != nil {
		return "", err
	}
	stage, err := os.MkdirTemp(workdir, ".modules-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	args := []string{"-build=binary", "-defaultsh=", "-initcmd=linuxecho"}
	for i, m := range mods {
		src, err := plainModule(m, stage)
		if err != nil {
			return "", err
		}
		args = append(args, "-files", fmt.Sprintf("%s:%s/%02d-%s.ko", src, guestModulesDir, i+1, m.name))
	}
	err = writeAtomic(out, func(tmp string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, uroot, append(append(args, "-o", tmp, echoPkg), programs...)...)
		cmd.Dir = root
		// u-root builds for the environment's GOOS/GOARCH: the guest's.
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("u-root: %v\n%s", err, b)
		}
		st, err := os.Stat(tmp)
		if err != nil || st.Size() == 0 {
			return fmt.Errorf("u-root wrote no archive to %s", tmp)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("building the initramfs: %w", err)
	}
	pruneArchives(workdir, prefix, out)
	return out, nil
}

// programSources returns the Go files of the guest programs pkgs and of
// every package of this module they import, as built for the guest, in a
// stable order.
func programSources(root string, pkgs []string) ([]string, error) {
	cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}"}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", strings.Join(pkgs, " "), err)
	}
	var srcs []string
	for _, dir := range strings.Fields(string(out)) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		srcs = append(srcs, files...)
	}
	return srcs, nil
}

// prune removes the files matching pattern in dir other than keep: the
// archives and kernels of earlier inputs, so the work directory does not
// grow with every change. A VM already started from one is unaffected
// (QEMU reads kernel and initramfs into guest memory at start).
func prune(dir, pattern, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, pattern))
	for _, f := range old {
		if f != keep {
			os.Remove(f)
		}
	}
}

// pruneArchives is prune for the archives prefix<key>.cpio: a key has no
// "-", so the archives of a longer prefix (with more programs) stay.
func pruneArchives(dir, prefix, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, prefix+"*.cpio"))
	for _, f := range old {
		key := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), prefix), ".cpio")
		if f != keep && !strings.Contains(key, "-") {
			os.Remove(f)
		}
	}
}

// installURoot installs the u-root command into workdir (once; go install
// rebuilds nothing when it is current) and returns its path. go install
// builds it for the host, whatever GOOS/GOARCH the environment sets for
// the guest.
func installURoot(workdir string) (string, error) {
	version := URoot[strings.LastIndexByte(URoot, '@')+1:]
	bin := filepath.Join(workdir, "u-root-"+version)
	exe := filepath.Join(bin, "u-root")
	if _, err := os.Stat(exe); err == nil {
		return exe, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", URoot)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOOS=", "GOARCH=", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v\n%s", URoot, err, b)
	}
	return exe, nil
}

// plainModule returns a path to m as an uncompressed .ko: finit_module
// takes compressed modules only with CONFIG_MODULE_DECOMPRESS and a flag,
// so compressed ones (Debian 13: .ko.xz) are unpacked into stage.
func plainModule(m module, stage string) (string, error) {
	if strings.HasSuffix(m.path, ".ko") {
		return m.path, nil
	}
	data, err := os.ReadFile(m.path)
	if err != nil {
		return "", err
	}
	out := filepath.Join(stage, m.name+".ko")
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := decompress(data, f); err != nil {
		return "", fmt.Errorf("module %s: %w", m.path, err)
	}
	return out, nil
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(h, "file %s\n", filepath.Base(path))
	_, err = io.Copy(h, f)
	return err
}
