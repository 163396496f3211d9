// Command noruntime is a program that forgot package unikernel: kaidoku
// build must refuse it and say what to add.
package main

import "fmt"

func main() { fmt.Println("hello") }
