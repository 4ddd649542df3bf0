// Command matrix_peer is one side of the interop matrix (tests/python/test_matrix.py),
// the same program in C, Python, Java and Go:
//
//	matrix_peer server NAME        echoes every message; "!barrier N SIZE" from N clients
//	                               makes it broadcast SIZE bytes to all of them
//	matrix_peer client NAME SEED   echoes 0 B to 3 MiB through the server, waits at the
//	                               barrier, checks the broadcast, then blocks until the
//	                               server is gone
//
// Each step prints one line (ready / connected ID / echo ok / broadcast ok / waiting /
// closed); anything unexpected goes to stderr with exit status 1.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"smipc.org/smipc"
)

const (
	wait          = 30 * time.Second
	clients       = 3
	broadcastSize = 10000
)

var sizes = []int{0, 1, 4095, 4096, 4097, 65536, 1 << 20, 3 << 20}

// payload: byte i is (seed*31 + (i mod 251)*7) mod 256, in every language.
func payload(size, seed int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(seed*31 + (i%251)*7)
	}
	return b
}

func serve(name string) error {
	srv, err := smipc.Listen(name, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Println("ready")
	arrived := 0
	for {
		msg, err := srv.Recv(-1)
		if err != nil {
			return err
		}
		if f := strings.Fields(string(msg.Data)); len(f) == 3 && f[0] == "!barrier" {
			want, _ := strconv.Atoi(f[1])
			size, _ := strconv.Atoi(f[2])
			if arrived++; arrived == want {
				n, err := srv.Broadcast(payload(size, 7), wait)
				if err != nil {
					return err
				}
				if n != arrived {
					return fmt.Errorf("broadcast reached %d of %d", n, arrived)
				}
				arrived = 0
			}
		} else if err := srv.Send(msg.Client, msg.Data, wait); err != nil {
			return err
		}
	}
}

func client(name string, seed int) error {
	cli, err := smipc.Dial(name, wait)
	if err != nil {
		return err
	}
	defer cli.Close()
	fmt.Println("connected", cli.ID())
	for i, size := range sizes {
		data := payload(size, seed+i)
		if err := cli.Send(data, wait); err != nil {
			return err
		}
		back, err := cli.Recv(wait)
		if err != nil {
			return err
		}
		if !bytes.Equal(back, data) {
			return fmt.Errorf("echo of %d bytes came back different", size)
		}
	}
	fmt.Println("echo ok")
	if err := cli.Send([]byte(fmt.Sprintf("!barrier %d %d", clients, broadcastSize)), wait); err != nil {
		return err
	}
	got, err := cli.Recv(wait)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, payload(broadcastSize, 7)) {
		return errors.New("the broadcast came damaged")
	}
	fmt.Println("broadcast ok")
	fmt.Println("waiting")
	if _, err := cli.Recv(-1); !errors.Is(err, smipc.ErrClosed) {
		return fmt.Errorf("after the broadcast: %v", err)
	}
	fmt.Println("closed")
	return nil
}

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "server":
		err = serve(os.Args[2])
	case len(os.Args) == 4 && os.Args[1] == "client":
		seed, _ := strconv.Atoi(os.Args[3])
		err = client(os.Args[2], seed)
	default:
		fmt.Fprintln(os.Stderr, "usage: matrix_peer server NAME | client NAME SEED")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "matrix_peer:", err)
		os.Exit(1)
	}
}
