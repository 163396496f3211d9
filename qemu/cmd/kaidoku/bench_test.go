package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOpenLoopOptions(t *testing.T) {
	for _, tc := range []struct {
		d         time.Duration
		fractions string
		want      []float64
		wantDur   time.Duration
		err       string
	}{
		{2 * time.Second, "0.1,0.5,1.5", []float64{0.1, 0.5, 1.5}, 2 * time.Second, ""},
		{time.Second, "1", []float64{1}, time.Second, ""},
		{0, "nonsense", nil, -1, ""},
		{-time.Second, "", nil, -1, ""},
		{time.Second, "0.1,x", nil, 0, `"x" is not a positive fraction`},
		{time.Second, "0.1,-1", nil, 0, `"-1" is not a positive fraction`},
		{time.Second, "0", nil, 0, `"0" is not a positive fraction`},
		{time.Second, "Inf", nil, 0, `"Inf" is not a positive fraction`},
		{time.Second, ",", nil, 0, "no rate given"},
	} {
		o, err := openLoopOptions(tc.d, tc.fractions)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v %q: error %v, want %q", tc.d, tc.fractions, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(o.Fractions, tc.want) || o.Duration != tc.wantDur {
			t.Errorf("%v %q: %+v %v, want %v %v", tc.d, tc.fractions, o, err, tc.want, tc.wantDur)
		}
	}
}
