package rtc

import (
	"strings"
	"testing"
	"time"
)

func TestBCD(t *testing.T) {
	for _, tc := range []struct {
		v  uint8
		n  int
		ok bool
	}{
		{0x00, 0, true}, {0x09, 9, true}, {0x10, 10, true}, {0x59, 59, true}, {0x99, 99, true},
		{0x0a, 0, false}, {0xa0, 0, false}, {0xff, 0, false}, {0x1f, 0, false},
	} {
		n, ok := BCD(tc.v)
		if n != tc.n || ok != tc.ok {
			t.Errorf("BCD(%#02x) = %d, %v; want %d, %v", tc.v, n, ok, tc.n, tc.ok)
		}
	}
}

func TestTime(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	for _, tc := range []struct {
		name string
		r    Registers
		want time.Time
		err  string
	}{
		{"BCD 24h with century (QEMU)", Registers{0x07, 0x34, 0x23, 0x04, 0x12, 0x26, 0x20, B24}, utc(2026, 12, 4, 23, 34, 7), ""},
		{"binary 24h", Registers{7, 34, 23, 4, 12, 26, 20, B24 | BDM}, utc(2026, 12, 4, 23, 34, 7), ""},
		{"BCD 12h PM", Registers{0x00, 0x00, 0x80 | 0x11, 0x01, 0x01, 0x24, 0x20, 0}, utc(2024, 1, 1, 23, 0, 0), ""},
		{"BCD 12h noon", Registers{0x00, 0x00, 0x80 | 0x12, 0x01, 0x01, 0x24, 0x20, 0}, utc(2024, 1, 1, 12, 0, 0), ""},
		{"BCD 12h midnight", Registers{0x00, 0x00, 0x12, 0x01, 0x01, 0x24, 0x20, 0}, utc(2024, 1, 1, 0, 0, 0), ""},
		{"binary 12h PM", Registers{0, 0, 0x80 | 3, 1, 1, 24, 20, BDM}, utc(2024, 1, 1, 15, 0, 0), ""},
		{"no century, year 26", Registers{0, 0, 0, 0x01, 0x01, 0x26, 0, B24}, utc(2026, 1, 1, 0, 0, 0), ""},
		{"no century, year 99", Registers{0, 0, 0, 0x31, 0x12, 0x99, 0, B24}, utc(1999, 12, 31, 0, 0, 0), ""},
		{"unix epoch", Registers{0, 0, 0, 0x01, 0x01, 0x70, 0x19, B24}, time.Unix(0, 0).UTC(), ""},
		{"leap day", Registers{0, 0, 0, 0x29, 0x02, 0x24, 0x20, B24}, utc(2024, 2, 29, 0, 0, 0), ""},
		{"not BCD", Registers{0x5a, 0, 0, 1, 1, 0x24, 0x20, B24}, time.Time{}, "seconds register 0x5a is not BCD"},
		{"month 13", Registers{0, 0, 0, 0x01, 0x13, 0x24, 0x20, B24}, time.Time{}, "no such time"},
		{"day 0", Registers{0, 0, 0, 0x00, 0x01, 0x24, 0x20, B24}, time.Time{}, "no such time"},
		{"hour 24", Registers{0, 0, 0x24, 0x01, 0x01, 0x24, 0x20, B24}, time.Time{}, "no such time"},
		{"12h hour 0", Registers{0, 0, 0x00, 0x01, 0x01, 0x24, 0x20, 0}, time.Time{}, "12-hour clock at hour 0"},
		{"February 30", Registers{0, 0, 0, 0x30, 0x02, 0x24, 0x20, B24}, time.Time{}, "no such date"},
		{"29 February 2025", Registers{0, 0, 0, 0x29, 0x02, 0x25, 0x20, B24}, time.Time{}, "no such date"},
	} {
		got, err := tc.r.Time()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, %v; want error %q", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
