module github.com/kaidoku-net/kaidoku

go 1.26.0

require github.com/usbarmory/tamago v1.26.0 // indirect

tool github.com/usbarmory/tamago/cmd/tamago
