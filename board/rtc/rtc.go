// Package rtc decodes the date and time of the PC's CMOS real-time clock
// (the Motorola MC146818 that QEMU emulates, microvm's rtc=on), as Linux's
// mc146818_get_time does: BCD or binary by status register B's DM bit,
// 12- or 24-hour by its 24/12 bit, the century from the century register
// when it holds one. The board reads the registers at boot to set the
// wall clock; this package is plain Go, so that it is tested on the host.
package rtc

import (
	"fmt"
	"time"
)

// Register indexes, written to the index port (0x70) before the data port
// (0x71) is read.
const (
	RegSeconds = 0x00
	RegMinutes = 0x02
	RegHours   = 0x04
	RegDay     = 0x07
	RegMonth   = 0x08
	RegYear    = 0x09
	RegA       = 0x0a
	RegB       = 0x0b
	// RegCentury is where QEMU (and the ACPI FADT's usual century
	// field) keeps the century.
	RegCentury = 0x32
)

// Status register bits.
const (
	// AUIP (register A): an update is in progress; the time registers
	// may be read only while it is clear.
	AUIP = 0x80
	// BDM (register B): the registers hold binary values, not BCD.
	BDM = 0x04
	// B24 (register B): 24-hour mode; otherwise the hour's top bit means
	// PM.
	B24 = 0x02
)

// Registers are the clock's registers as read.
type Registers struct {
	Seconds, Minutes, Hours uint8
	Day, Month, Year        uint8
	// Century is the century register; 0 when the board has none.
	Century uint8
	B       uint8
}

// Time returns the date and time the registers hold, in UTC (the RTC of a
// QEMU guest keeps UTC unless started with -rtc base=localtime), or an
// error naming the register that holds no valid value.
func (r Registers) Time() (time.Time, error) {
	dec := func(name string, v uint8) (int, error) {
		if r.B&BDM != 0 {
			return int(v), nil
		}
		n, ok := BCD(v)
		if !ok {
			return 0, fmt.Errorf("rtc: %s register %#02x is not BCD", name, v)
		}
		return n, nil
	}
	sec, err := dec("seconds", r.Seconds)
	if err != nil {
		return time.Time{}, err
	}
	min, err := dec("minutes", r.Minutes)
	if err != nil {
		return time.Time{}, err
	}
	pm := false
	hours := r.Hours
	if r.B&B24 == 0 {
		pm, hours = hours&0x80 != 0, hours&0x7f
	}
	hour, err := dec("hours", hours)
	if err != nil {
		return time.Time{}, err
	}
	if r.B&B24 == 0 {
		if hour < 1 || hour > 12 {
			return time.Time{}, fmt.Errorf("rtc: 12-hour clock at hour %d", hour)
		}
		hour %= 12
		if pm {
			hour += 12
		}
	}
	day, err := dec("day", r.Day)
	if err != nil {
		return time.Time{}, err
	}
	month, err := dec("month", r.Month)
	if err != nil {
		return time.Time{}, err
	}
	year, err := dec("year", r.Year)
	if err != nil {
		return time.Time{}, err
	}
	century := 0
	if r.Century != 0 {
		if century, err = dec("century", r.Century); err != nil {
			return time.Time{}, err
		}
	}
	switch {
	case century >= 19 && century <= 99:
		year += century * 100
	case year < 70:
		// No century register: Linux's rule, years before 70 are
		// 20xx.
		year += 2000
	default:
		year += 1900
	}
	if sec > 59 || min > 59 || hour > 23 || day < 1 || day > 31 || month < 1 || month > 12 {
		return time.Time{}, fmt.Errorf("rtc: no such time: %04d-%02d-%02d %02d:%02d:%02d", year, month, day, hour, min, sec)
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, fmt.Errorf("rtc: no such date: %04d-%02d-%02d", year, month, day)
	}
	return t, nil
}

// BCD decodes a two-digit binary-coded decimal byte; ok is false if a
// digit is over 9.
func BCD(v uint8) (n int, ok bool) {
	hi, lo := v>>4, v&0x0f
	if hi > 9 || lo > 9 {
		return 0, false
	}
	return int(hi)*10 + int(lo), true
}
