# kaidoku: a bare-metal Go unikernel network stack for QEMU microvm.
#
#   make run     build the image and boot it in QEMU with its UDP services
#                forwarded to 127.0.0.1 (echo at 127.0.0.1:10007)
#   make test    host tests, then the end-to-end tests in QEMU where QEMU
#                and the TamaGo toolchain are present
#
# The image is built with `go tool tamago` (the TamaGo Go distribution
# matching the tamago module pinned in go.mod).

GO      ?= go
IMAGE   := build/kaidoku.elf
LDFLAGS := -T 0x10010000 -R 0x1000
IMAGE_ENV := GOOS=tamago GOARCH=amd64 GOOSPKG=github.com/usbarmory/tamago CGO_ENABLED=0
# Extra build-time settings, e.g. IMAGE_FLAGS='-X main.defaultAddr=10.0.0.5/24'
IMAGE_FLAGS ?=

.PHONY: all image run test bench vet clean FORCE

all: image

image: $(IMAGE)

# Always handed to the go command, whose cache decides what to rebuild.
$(IMAGE): FORCE
	@mkdir -p build
	$(IMAGE_ENV) $$($(GO) tool -n tamago) build -trimpath \
		-ldflags "$(LDFLAGS) $(IMAGE_FLAGS)" -o $@ ./image/kaidoku

build/kaidoku: FORCE
	@mkdir -p build
	$(GO) build -o $@ ./qemu/cmd/kaidoku

run: $(IMAGE) build/kaidoku
	build/kaidoku run $(IMAGE)

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

# The side-by-side benchmark: kaidoku, the gVisor netstack on kaidoku's
# driver, a Linux guest and the driver's reflector, on the same QEMU
# settings; writes results/bench.md and the plots, and prints the table.
# The Linux peer needs Debian's kernel (make linux-guest-deps); without it
# its row says so.
bench: build/kaidoku
	build/kaidoku bench -out results

clean:
	rm -rf build results

# The Linux guest peer of the benchmarks (qemu/linuxguest) boots Debian's
# kernel; xz-utils unpacks it so QEMU boots the uncompressed kernel (much
# faster under TCG). Run as root.
.PHONY: linux-guest-deps
linux-guest-deps:
	apt-get update
	apt-get install -y --no-install-recommends linux-image-amd64 xz-utils

# The benchmark's gVisor peer: gVisor's netstack on kaidoku's driver and
# NAPI (image/gvisor-echo). `kaidoku bench` builds it by itself.
.PHONY: gvisor-image
gvisor-image:
	@mkdir -p build
	$(IMAGE_ENV) $$($(GO) tool -n tamago) build -trimpath \
		-ldflags "$(LDFLAGS)" -o build/gvisor-echo.elf ./image/gvisor-echo
