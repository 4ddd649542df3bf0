package main

import (
	"fmt"
	"log"
	"time"

	"smipc.org/smipc"
)

func main() {
	cli, err := smipc.Dial("readme-go", time.Second)
	if err != nil {
		log.Fatal(err) // errors.Is(err, smipc.ErrNotFound): no server of that name
	}
	defer cli.Close()
	cli.Send([]byte("hello"), time.Second)
	reply, err := cli.Recv(time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client got", string(reply)) // HELLO
}
