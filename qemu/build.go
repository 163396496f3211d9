package qemu

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ImageLDFlags places the image where the board expects it: text at
// RamStart+0x10000, 4 KiB alignment.
const ImageLDFlags = "-T 0x10010000 -R 0x1000"

// ModuleRoot returns the directory of kaidoku's go.mod, searching upwards
// from the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found")
		}
		dir = parent
	}
}

// ToolchainDir returns where `go tool tamago` keeps the TamaGo toolchain
// matching the tamago module pinned in go.mod (its cache directory,
// tamago-go/tamago-go<version>), and whether the toolchain is there. On a
// machine with internet `go tool tamago` installs it there by itself.
func ToolchainDir(root string) (string, bool, error) {
	f, err := os.Open(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	version := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == "github.com/usbarmory/tamago" {
			version = strings.TrimPrefix(fields[1], "v")
		}
	}
	if version == "" {
		return "", false, errors.New("go.mod does not require github.com/usbarmory/tamago")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", false, err
	}
	dir := filepath.Join(cache, "tamago-go", "tamago-go"+version)
	_, err = os.Stat(filepath.Join(dir, "bin", "go"))
	return dir, err == nil, nil
}

// BuildImage builds the image package pkg (e.g. ./image/kaidoku) into out
// with `go tool tamago`, using the toolchain only if it is already in
// place (ToolchainDir): it never triggers the tool's network install.
func BuildImage(root, pkg, out string, ldflags string, tags ...string) error {
	args := []string{"build", "-trimpath", "-ldflags", ImageLDFlags + " " + ldflags, "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, pkg)
	cmd, err := Tamago(root, args...)
	if err != nil {
		return err
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// Tamago returns the command `go tool tamago args...` for GOOS=tamago
// GOARCH=amd64 in the module at root, or an error if the TamaGo
// toolchain is not installed (it is never downloaded from here).
func Tamago(root string, args ...string) (*exec.Cmd, error) {
	dir, ok, err := ToolchainDir(root)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("TamaGo toolchain not found at %s (on a machine with internet `go tool tamago` installs it on first use)", dir)
	}
	tool, err := exec.Command("go", "tool", "-n", "tamago").Output()
	if err != nil {
		return nil, fmt.Errorf("go tool -n tamago: %w", err)
	}
	cmd := exec.Command(strings.TrimSpace(string(tool)), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=tamago", "GOARCH=amd64",
		"GOOSPKG=github.com/usbarmory/tamago", "CGO_ENABLED=0")
	return cmd, nil
}
