//go:build linux

package main

import (
	"reflect"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	c, err := parseCmdline("console=ttyS0 quiet virtio_mmio.device=512@0xfeb02e00:47 tsc_early_khz=2300000\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.dev != "eth0" || c.addr.String() != "10.0.2.15/24" || c.gw.String() != "10.0.2.2" {
		t.Errorf("defaults: %+v", c)
	}
	if !reflect.DeepEqual(c.modArgs["virtio_mmio"], []string{"device=512@0xfeb02e00:47"}) {
		t.Errorf("module arguments %v", c.modArgs)
	}

	c, err = parseCmdline("kaidoku.addr=192.168.7.2/16 kaidoku.gw=none kaidoku.dev=eth1 virtio-net.napi_tx=1")
	if err != nil {
		t.Fatal(err)
	}
	if c.dev != "eth1" || c.addr.String() != "192.168.7.2/16" || c.gw.IsValid() {
		t.Errorf("overrides: %+v", c)
	}
	if !reflect.DeepEqual(c.modArgs["virtio_net"], []string{"napi_tx=1"}) {
		t.Errorf("module arguments %v", c.modArgs)
	}

	if c.agentPort != 5555 || c.agentAllow.String() != "10.0.2.2/32" {
		t.Errorf("agent defaults: port %d allow %v", c.agentPort, c.agentAllow)
	}
	c, err = parseCmdline("kaidoku.agent=6000 kaidoku.agent.allow=any")
	if err != nil || c.agentPort != 6000 || c.agentAllow.IsValid() {
		t.Errorf("agent overrides: %+v, %v", c, err)
	}
	if c, _ = parseCmdline("kaidoku.agent=off"); c.agentPort != 0 {
		t.Errorf("agent off: port %d", c.agentPort)
	}

	for _, bad := range []string{"kaidoku.agent=0", "kaidoku.agent=x", "kaidoku.agent.allow=::1/128", "kaidoku.agent.allow=10.0.2.2", "kaidoku.addr=10.0.2.15", "kaidoku.addr=fe80::1/64", "kaidoku.gw=10.0.2", "kaidoku.gw=::1"} {
		if _, err := parseCmdline(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"/lib/modules/kaidoku/03-virtio_mmio.ko": "virtio_mmio",
		"/lib/modules/kaidoku/10-virtio-net.ko":  "virtio_net",
		"virtio_ring.ko":                         "virtio_ring",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%s) = %s, want %s", in, got, want)
		}
	}
}
