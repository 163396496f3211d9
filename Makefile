# kaidoku: a bare-metal Go unikernel network stack for QEMU microvm.
#
#   make run     build the image and boot it in QEMU with its UDP services
#                forwarded to 127.0.0.1 (echo at 127.0.0.1:10007); APPEND
#                adds kernel command line words (README: Kernel command line)
#   make test    host tests, then the end-to-end tests in QEMU where QEMU
#                and the TamaGo toolchain are present
#
# The image is built with `go tool tamago` (the TamaGo Go distribution
# matching the tamago module pinned in go.mod).

GO      ?= go
IMAGE   := build/kaidoku.elf
LDFLAGS := -T 0x10010000 -R 0x1000
IMAGE_ENV := GOOS=tamago GOARCH=amd64 GOOSPKG=github.com/usbarmory/tamago CGO_ENABLED=0
# Extra build-time settings, e.g. kaidoku words built into the image (the
# boot command line overrides them):
#   IMAGE_FLAGS="-X 'main.builtinCmdline=kaidoku.addr=10.0.0.5/24 kaidoku.gw=10.0.0.1'"
IMAGE_FLAGS ?=
# Extra kernel command line words for make run, e.g. APPEND='kaidoku.busypoll=200us'
APPEND ?=

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
	build/kaidoku run -append '$(APPEND)' $(IMAGE)

# make test: host vet and gVisor's checklocks (the +checklocks
# annotations); every image built and the GOOS=tamago packages vetted and
# checklocks-checked with the TamaGo toolchain, since the host tools skip
# files built for tamago alone (kaidoku check: a broken image fails here, and
# where QEMU or the toolchain is missing it prints the one line saying
# which); then every test, host packages under the race detector. The
# end-to-end package (qemu/e2e) boots QEMU, where the race detector would
# only slow the host side it does not test, so it runs without.
test:
	$(GO) vet ./...
	$(GO) tool checklocks ./...
	$(GO) run ./qemu/cmd/kaidoku check
	$(GO) test -race -count=1 -timeout 10m $$($(GO) list ./... | grep -v /qemu/e2e$$)
	$(GO) test -count=1 -timeout 25m ./qemu/e2e
	@$(MAKE) --no-print-directory conformance-linux

# The side-by-side benchmark: kaidoku, the gVisor netstack on kaidoku's
# driver, a Linux guest and the XDP reflector, on the same QEMU
# settings, then the dnsperf and sockperf sections (make bench-clients);
# writes results/bench.md and the plots, and prints the table.
# The Linux peer needs Debian's kernel (make linux-guest-deps); without it
# its row says so.
bench: build/kaidoku
	build/kaidoku bench -out results

# The real-client sections of make bench alone: dnsperf against image/dns
# and sockperf against image/sockperf, each on kaidoku, on the gVisor
# netstack over kaidoku's driver and on the Linux guest (the same
# program); writes results/bench-clients.md.
.PHONY: bench-clients
bench-clients: build/kaidoku
	build/kaidoku bench -out results -sections dnsperf,sockperf

clean:
	rm -rf build results

# Socket-level conformance (qemu/e2e/conformance_test.go): every case
# against the kaidoku image and the Linux guest, each booted once; one
# line per case and target, then "N passed, M failed". conformance-linux
# runs the cases against the Linux guest alone (the oracle checks the
# cases), or prints one line saying what to install.
.PHONY: conformance conformance-linux
conformance:
	@mkdir -p build
	@$(GO) test -c -o build/e2e.test ./qemu/e2e
	@cd qemu/e2e && KAIDOKU_CONFORMANCE=kaidoku,linux ../../build/e2e.test -test.run '^TestConformance$$' -test.timeout 20m

conformance-linux:
	@mkdir -p build
	@$(GO) test -c -o build/e2e.test ./qemu/e2e
	@cd qemu/e2e && KAIDOKU_CONFORMANCE=linux ../../build/e2e.test -test.run '^TestConformance$$' -test.timeout 15m

# The Linux guest peer of the benchmarks (qemu/linuxguest) boots Debian's
# kernel; xz-utils unpacks it so QEMU boots the uncompressed kernel (much
# faster under TCG). Run as root.
.PHONY: linux-guest-deps
linux-guest-deps:
	apt-get update
	apt-get install -y --no-install-recommends linux-image-amd64 xz-utils

# The standard clients the end-to-end tests of image/dns and image/sockperf
# drive (dig, sockperf), the benchmark's dnsperf, and tcpdump, which reads
# `kaidoku capture`'s files; without them those tests print one line naming
# the package and skip, and make bench skips the section with one line. Run
# as root.
.PHONY: client-deps
client-deps:
	apt-get update
	apt-get install -y --no-install-recommends bind9-dnsutils sockperf dnsperf tcpdump

# The benchmark's gVisor peer: gVisor's netstack on kaidoku's driver and
# NAPI (image/gvisor-echo). `kaidoku bench` builds it by itself.
.PHONY: gvisor-image
gvisor-image:
	@mkdir -p build
	$(IMAGE_ENV) $$($(GO) tool -n tamago) build -trimpath \
		-ldflags "$(LDFLAGS)" -o build/gvisor-echo.elf ./image/gvisor-echo

# Reliability. The short variants (flood, 2-minute soak, device faults,
# fragment abuse, end-to-end fuzz) run in `make test`; the long ones here.
#
#   make soak    30 minutes (SOAK=…) of mixed traffic against the booted
#                image; writes results/soak.md
#   make fuzz    every host fuzz target for FUZZTIME (10m) each, one after
#                the other; writes results/fuzz.md and results/fuzz-*.log
#                (FUZZFLAGS=-parallel=1 leaves a core free)
#
# KAIDOKU_LONG=1 make test-long runs the other long variants (a flood of
# 10^6 datagrams, 10 minutes of end-to-end fuzzing, …), writing their
# reports into results/.
SOAK      ?= 30m
FUZZTIME  ?= 10m
FUZZFLAGS ?=

.PHONY: soak fuzz test-long
soak:
	@mkdir -p results
	KAIDOKU_SOAK=$(SOAK) KAIDOKU_SOAK_OUT=$(CURDIR)/results/soak.md \
		$(GO) test -count=1 -v -timeout 0 -run '^TestSoak$$' ./qemu/e2e

test-long:
	@mkdir -p results
	KAIDOKU_LONG=1 KAIDOKU_RESULTS=$(CURDIR)/results \
		$(GO) test -count=1 -v -timeout 0 \
		-run '^(TestFloodSlowReader|TestFragmentAbuse|TestFrameFuzz|TestLinkDownUp|TestRcvbufForceBoundedByUDPMem)$$' ./qemu/e2e

fuzz:
	@mkdir -p results
	@printf '# make fuzz: every host fuzz target for %s (-fuzzminimizetime 10s)\n\n| package | target | result | last progress line |\n|---|---|---|---|\n' \
		'$(FUZZTIME)' > results/fuzz.md
	@failed=0; \
	for f in $$(grep -rl --include='*_test.go' --exclude-dir=testdata '^func Fuzz' . | sort); do \
		dir=$$(dirname $$f); \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			log=results/fuzz-$$t.log; \
			echo "== $$dir $$t ($(FUZZTIME))"; \
			if $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $(FUZZFLAGS) $$dir > $$log 2>&1; \
			then res=ok; else res=FAIL; failed=$$((failed+1)); fi; \
			last=$$(grep 'fuzz: elapsed' $$log | tail -1); \
			echo "   $$res: $$last"; \
			echo "| $$dir | $$t | $$res | $$last |" >> results/fuzz.md; \
			if [ $$res = FAIL ]; then grep -A3 -- '--- FAIL' $$log | sed 's/^/   /'; fi; \
		done; \
	done; \
	echo; cat results/fuzz.md; \
	test $$failed -eq 0
